package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// itemSize is an item's size as DynamoDB bills it: for each attribute, the UTF-8 length of its
// name plus its value's size (strings and binaries their length, numbers about one byte per
// two significant digits plus one, booleans and nulls one byte, lists and maps three bytes plus
// one per element plus the elements, map keys counted like attribute names). It is an
// estimate within a few bytes, which is all a capacity model needs: a write costs one unit per
// started KB, a read one per started 4 KB.
func itemSize(item map[string]ddbtypes.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v ddbtypes.AttributeValue) int {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberN:
		return numberSize(v.Value)
	case *ddbtypes.AttributeValueMemberB:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberBOOL, *ddbtypes.AttributeValueMemberNULL:
		return 1
	case *ddbtypes.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *ddbtypes.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *ddbtypes.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *ddbtypes.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}

// numberSize is 1 byte per two significant digits, plus 1.
func numberSize(s string) int {
	digits := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(s), "0")
	return (len(digits)+1)/2 + 1
}

// partitionItemSizes reads every item of the partition of key (a session: its item, its
// events, and whatever else the store keeps under the session) and returns the size of the
// item at key and those of the others, largest first.
func partitionItemSizes(ctx context.Context, db *dynamodb.Client, table string, key map[string]ddbtypes.AttributeValue) (main int, others []int, err error) {
	out, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": key["PK"]},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return 0, nil, fmt.Errorf("read the partition of %v: %w", key["PK"], err)
	}
	sk := key["SK"].(*ddbtypes.AttributeValueMemberS).Value
	for _, item := range out.Items {
		if s, ok := item["SK"].(*ddbtypes.AttributeValueMemberS); ok && s.Value == sk {
			main = itemSize(item)
		} else {
			others = append(others, itemSize(item))
		}
	}
	slices.SortFunc(others, func(a, b int) int { return b - a })
	return main, others, nil
}

// largestItem scans a (small) table and returns the size of its largest item.
func largestItem(ctx context.Context, db *dynamodb.Client, table string) (int, error) {
	largest := 0
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("scan %s: %w", table, err)
		}
		for _, item := range page.Items {
			largest = max(largest, itemSize(item))
		}
	}
	return largest, nil
}
