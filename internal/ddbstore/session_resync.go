package ddbstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
)

// maxResyncMarkers bounds how many re-sync markers one sweep reads (one page of the query,
// some 60 KB); the rest wait for the next. The sweep handles them in parallel, so a sweep
// period (one minute) holds a thousand (docs/capacity.md, "Mass expiry").
const maxResyncMarkers = 1000

func newResyncRecord(m lifecycle.ResyncMarker) resyncRecord {
	k := resyncKey(string(m.Kind), m.ID, m.At)
	return resyncRecord{PK: k.PK, SK: k.SK, Kind: string(m.Kind), ID: m.ID, AtMs: msOf(m.At)}
}

// addResyncMarker adds the Put of a re-sync marker to a transaction: directory writes that
// change lifetime settings (a group's settings or priority, a membership) add it to their own
// transaction so that the change and the marker commit together.
func (tx *txWrites) addResyncMarker(kind lifecycle.ResyncKind, id string, at time.Time) {
	tx.Put(newResyncRecord(lifecycle.ResyncMarker{Kind: kind, ID: id, At: at.UTC()}), expression.ConditionBuilder{})
}

// MarkResync records that the lifetime settings of a group's members (kind group) or of a user
// (kind user) may have changed at at: the next sweep re-resolves and re-syncs their live
// sessions. Writing a marker twice is harmless.
func (ss *SessionStore) MarkResync(ctx context.Context, kind lifecycle.ResyncKind, id string, at time.Time) error {
	item, err := attributevalue.MarshalMap(newResyncRecord(lifecycle.ResyncMarker{Kind: kind, ID: id, At: at.UTC()}))
	if err != nil {
		return fmt.Errorf("encode re-sync marker: %w", err)
	}
	if _, err := ss.st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(ss.st.table), Item: item}); err != nil {
		return fmt.Errorf("mark %s %s for re-sync: %w", kind, id, ddbkit.StoreError(err))
	}
	return nil
}

// ResyncMarkers returns the oldest pending re-sync markers (at most 1,000 per call).
func (ss *SessionStore) ResyncMarkers(ctx context.Context) ([]lifecycle.ResyncMarker, error) {
	out, err := ss.st.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(ss.st.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: resyncPK}},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(maxResyncMarkers),
	})
	if err != nil {
		return nil, fmt.Errorf("read re-sync markers: %w", ddbkit.StoreError(err))
	}
	markers := make([]lifecycle.ResyncMarker, 0, len(out.Items))
	for _, item := range out.Items {
		var r resyncRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return nil, fmt.Errorf("decode re-sync marker: %w", err)
		}
		at, kind, id, ok := parseResyncSK(r.SK)
		if !ok {
			continue
		}
		markers = append(markers, lifecycle.ResyncMarker{Kind: lifecycle.ResyncKind(kind), ID: id, At: at, Cursors: resyncCursors(item)})
	}
	return markers, nil
}

// DeleteResyncMarker removes a marker the sweep has handled.
func (ss *SessionStore) DeleteResyncMarker(ctx context.Context, m lifecycle.ResyncMarker) error {
	_, err := ss.st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(ss.st.table), Key: resyncKey(string(m.Kind), m.ID, m.At).Attributes(),
	})
	if err != nil {
		return fmt.Errorf("delete re-sync marker: %w", ddbkit.StoreError(err))
	}
	return nil
}

// resyncCursorPrefix begins the name of a marker's attribute that holds how far the re-sync of
// every session got in one due shard ("cursor_<shard>"): one attribute per shard, so that the
// sweep's shard readers, each saving its own after every page, never overwrite each other.
const resyncCursorPrefix = "cursor_"

// resyncCursors reads a marker item's cursors.
func resyncCursors(item map[string]ddbtypes.AttributeValue) map[int]string {
	var out map[int]string
	for name, v := range item {
		rest, ok := strings.CutPrefix(name, resyncCursorPrefix)
		if !ok {
			continue
		}
		shard, err := strconv.Atoi(rest)
		s, isS := v.(*ddbtypes.AttributeValueMemberS)
		if err != nil || !isS {
			continue
		}
		if out == nil {
			out = map[int]string{}
		}
		out[shard] = s.Value
	}
	return out
}

// SaveResyncCursor records on marker m how far the re-sync of every session got in due shard
// shard: cursor is the page token to go on from, or lifecycle.ResyncShardDone. The next sweep
// goes on from there (ResyncMarkers returns it), so a re-sync longer than one sweep is not
// started over, and a sweep that crashes loses at most the pages it had in flight. A marker
// deleted meanwhile (another sweep finished it) is not written again.
func (ss *SessionStore) SaveResyncCursor(ctx context.Context, m lifecycle.ResyncMarker, shard int, cursor string) error {
	_, err := ss.st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(ss.st.table),
		Key:                      resyncKey(string(m.Kind), m.ID, m.At).Attributes(),
		UpdateExpression:         aws.String("SET #c = :c"),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#c": resyncCursorPrefix + strconv.Itoa(shard), "#pk": attrPK},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":c": &ddbtypes.AttributeValueMemberS{Value: cursor},
		},
	})
	var cf *ddbtypes.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &cf) {
		return fmt.Errorf("save re-sync cursor of shard %d: %w", shard, ddbkit.StoreError(err))
	}
	return nil
}
