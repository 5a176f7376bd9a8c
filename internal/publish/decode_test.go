package publish

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/publish/publishtest"
)

func TestEventFromItem(t *testing.T) {
	with := func(change func(map[string]types.AttributeValue)) map[string]types.AttributeValue {
		item := publishtest.EventItem("s1", 7, "stopped")
		change(item)
		return item
	}
	noDetail := publishtest.WantEvent("s1", 7, "stopped")
	noDetail.Detail = nil
	tests := []struct {
		name    string
		item    map[string]types.AttributeValue
		want    lifecycle.Event
		wantErr string
	}{
		{name: "complete item", item: publishtest.EventItem("s1", 7, "stopped"), want: publishtest.WantEvent("s1", 7, "stopped")},
		{name: "no detail", item: with(func(m map[string]types.AttributeValue) { delete(m, "detail") }), want: noDetail},
		{
			name: "ids derived from the keys",
			item: with(func(m map[string]types.AttributeValue) {
				delete(m, "event_id")
				delete(m, "session_id")
				delete(m, "seq")
			}),
			want: publishtest.WantEvent("s1", 7, "stopped"),
		},
		{name: "detail not JSON", item: with(func(m map[string]types.AttributeValue) {
			m["detail"] = &types.AttributeValueMemberS{Value: "{oops"}
		}), wantErr: "detail is not JSON"},
		{name: "no type", item: with(func(m map[string]types.AttributeValue) { delete(m, "type") }), wantErr: "no type"},
		{name: "no time", item: with(func(m map[string]types.AttributeValue) { delete(m, "at_ms") }), wantErr: "no at_ms"},
		{name: "time of the wrong type", item: with(func(m map[string]types.AttributeValue) {
			m["at_ms"] = &types.AttributeValueMemberS{Value: "yesterday"}
		}), wantErr: "attribute at_ms: want a number"},
		{name: "fractional sequence", item: with(func(m map[string]types.AttributeValue) {
			m["seq"] = &types.AttributeValueMemberN{Value: "1.5"}
		}), wantErr: "attribute seq: want an integer"},
		{name: "not an event", item: publishtest.SessionItem("s1"), wantErr: "not an event item"},
		{name: "bad sequence in SK", item: with(func(m map[string]types.AttributeValue) {
			delete(m, "seq")
			m["SK"] = &types.AttributeValueMemberS{Value: "EVENT#x"}
		}), wantErr: "bad sequence number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EventFromImage(publishtest.Image(tc.item))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("EventFromItem: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRecordKinds(t *testing.T) {
	modify := publishtest.InsertRecord("1", publishtest.EventItem("s1", 1, "created"))
	modify.EventName = "MODIFY"
	otherService := publishtest.RemoveRecord("1", publishtest.SessionItem("s1"), true)
	otherService.UserIdentity.PrincipalID = "lambda.amazonaws.com"
	tests := []struct {
		name      string
		record    events.DynamoDBEventRecord
		wantEvent bool
		wantTTL   bool
	}{
		{name: "insert of an event", record: publishtest.InsertRecord("1", publishtest.EventItem("s1", 1, "created")), wantEvent: true},
		{name: "insert of a session", record: publishtest.InsertRecord("1", publishtest.SessionItem("s1"))},
		{name: "modify of an event", record: modify},
		{name: "ttl remove", record: publishtest.RemoveRecord("1", publishtest.SessionItem("s1"), true), wantTTL: true},
		{name: "ttl remove of an event", record: publishtest.RemoveRecord("1", publishtest.EventItem("s1", 1, "created"), true), wantTTL: true},
		{name: "user remove", record: publishtest.RemoveRecord("1", publishtest.SessionItem("s1"), false)},
		{name: "remove by another service", record: otherService},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsEventInsert(tc.record); got != tc.wantEvent {
				t.Errorf("IsEventInsert: got %v, want %v", got, tc.wantEvent)
			}
			if got := IsTTLDeletion(tc.record); got != tc.wantTTL {
				t.Errorf("IsTTLDeletion: got %v, want %v", got, tc.wantTTL)
			}
		})
	}
}

func TestMarshalDetail(t *testing.T) {
	noDetail := publishtest.WantEvent("s1", 2, "deleted")
	noDetail.Detail = nil
	tests := []struct {
		name  string
		event lifecycle.Event
		want  string
	}{
		{
			name:  "with detail",
			event: publishtest.WantEvent("s1", 7, "stopped"),
			want: `{"event_id":"s1:7","session_id":"s1","user_id":"u1","seq":7,"type":"stopped","actor":"system:sweep",` +
				`"reason":"keepalive_expired","at":"2026-03-01T12:00:00.123Z","status_before":"running","status_after":"stopped","detail":{"k":1}}`,
		},
		{
			name:  "without detail",
			event: noDetail,
			want: `{"event_id":"s1:2","session_id":"s1","user_id":"u1","seq":2,"type":"deleted","actor":"system:sweep",` +
				`"reason":"keepalive_expired","at":"2026-03-01T12:00:00.123Z","status_before":"running","status_after":"stopped","detail":{}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MarshalDetail(tc.event)
			if err != nil {
				t.Fatalf("MarshalDetail: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("not JSON: %s", got)
			}
		})
	}
}
