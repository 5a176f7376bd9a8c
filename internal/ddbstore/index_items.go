package ddbstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// tableItems reads from the table the items whose index entries entries are (a page of a
// Query on an index that copies only some attributes: Due copies none, ByOwner none a
// keepalive writes), in the order of entries, with one strongly consistent BatchGetItem per
// 100. An item gone since its entry was read is left out, and so is one whose status is not
// status (when status is not ""), since the index's copy of it may be older than the item.
func (s *Store) tableItems(ctx context.Context, entries []map[string]ddbtypes.AttributeValue, status string) ([]map[string]ddbtypes.AttributeValue, error) {
	if len(entries) == 0 {
		return entries, nil
	}
	keys := make([]tableKey, 0, len(entries))
	for _, e := range entries {
		var k tableKey
		if err := attributevalue.UnmarshalMap(e, &k); err != nil {
			return nil, fmt.Errorf("decode an index entry's key: %w", err)
		}
		keys = append(keys, k)
	}
	found := make(map[tableKey]map[string]ddbtypes.AttributeValue, len(keys))
	err := s.kt.BatchGet(ctx, keys, true, func(item map[string]ddbtypes.AttributeValue) error {
		var k tableKey
		if err := attributevalue.UnmarshalMap(item, &k); err != nil {
			return fmt.Errorf("decode an item's key: %w", err)
		}
		found[k] = item
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]ddbtypes.AttributeValue, 0, len(keys))
	for _, k := range keys {
		item, ok := found[k]
		if !ok {
			continue
		}
		if status != "" {
			if v, ok := item[sessAttrStatus].(*ddbtypes.AttributeValueMemberS); !ok || v.Value != status {
				continue
			}
		}
		out = append(out, item)
	}
	return out, nil
}
