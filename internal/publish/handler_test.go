package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"wspolicy/internal/publish/publishtest"
)

func TestHandlerHandle(t *testing.T) {
	badDetail := publishtest.EventItem("s3", 1, "created")
	badDetail["detail"] = &types.AttributeValueMemberS{Value: "{"}
	mixed := []events.DynamoDBEventRecord{
		publishtest.InsertRecord("100", publishtest.EventItem("s1", 1, "created")),
		publishtest.InsertRecord("101", publishtest.SessionItem("s1")),
		publishtest.RemoveRecord("102", publishtest.SessionItem("s9"), true),
		publishtest.InsertRecord("103", publishtest.EventItem("s1", 2, "keepalive_expired")),
		publishtest.RemoveRecord("104", publishtest.SessionItem("s8"), false),
		publishtest.InsertRecord("105", publishtest.EventItem("s2", 1, "created")),
	}
	tests := []struct {
		name          string
		records       []events.DynamoDBEventRecord
		sinkFails     []string
		finaliser     *publishtest.Finaliser
		wantPublished []string
		wantFinalised []string
		wantFailed    []string
	}{
		{
			name:          "mixed batch",
			records:       mixed,
			finaliser:     &publishtest.Finaliser{},
			wantPublished: []string{"s1:1", "s1:2", "s2:1"},
			wantFinalised: []string{"SESSION#s9"},
			wantFailed:    []string{},
		},
		{
			name:          "no finaliser ignores ttl deletions",
			records:       mixed,
			wantPublished: []string{"s1:1", "s1:2", "s2:1"},
			wantFailed:    []string{},
		},
		{
			name:          "an event the sink refuses fails its record only",
			records:       mixed,
			sinkFails:     []string{"s1:2"},
			wantPublished: []string{"s1:1", "s2:1"},
			wantFailed:    []string{"103"},
		},
		{
			name:          "a finaliser error fails its record",
			records:       mixed,
			finaliser:     &publishtest.Finaliser{Fail: map[string]bool{"SESSION#s9": true}},
			wantPublished: []string{"s1:1", "s1:2", "s2:1"},
			wantFinalised: []string{"SESSION#s9"},
			wantFailed:    []string{"102"},
		},
		{
			name:          "an undecodable event fails its record",
			records:       []events.DynamoDBEventRecord{publishtest.InsertRecord("1", publishtest.EventItem("s1", 1, "created")), publishtest.InsertRecord("2", badDetail)},
			wantPublished: []string{"s1:1"},
			wantFailed:    []string{"2"},
		},
		{
			name:       "failures in record order",
			records:    mixed,
			sinkFails:  []string{"s2:1", "s1:1"},
			finaliser:  &publishtest.Finaliser{Fail: map[string]bool{"SESSION#s9": true}},
			wantFailed: []string{"100", "102", "105"}, wantFinalised: []string{"SESSION#s9"},
			wantPublished: []string{"s1:2"},
		},
		{name: "empty batch", records: nil, wantFailed: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &publishtest.Sink{Fail: map[string]bool{}}
			for _, id := range tc.sinkFails {
				sink.Fail[id] = true
			}
			var fin Finaliser
			if tc.finaliser != nil {
				fin = tc.finaliser
			}
			var logs bytes.Buffer
			h := NewHandler(sink, fin, slog.New(slog.NewJSONHandler(&logs, nil)))
			resp, err := h.Handle(context.Background(), events.DynamoDBEvent{Records: tc.records})
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			gotFailed := []string{}
			for _, f := range resp.BatchItemFailures {
				gotFailed = append(gotFailed, f.ItemIdentifier)
			}
			if !reflect.DeepEqual(gotFailed, tc.wantFailed) {
				t.Errorf("failed records: got %v, want %v", gotFailed, tc.wantFailed)
			}
			var gotPublished []string
			for _, e := range sink.Published() {
				gotPublished = append(gotPublished, e.EventID)
			}
			if !reflect.DeepEqual(gotPublished, tc.wantPublished) {
				t.Errorf("published: got %v, want %v", gotPublished, tc.wantPublished)
			}
			if tc.finaliser != nil && !reflect.DeepEqual(tc.finaliser.Got, tc.wantFinalised) {
				t.Errorf("finalised: got %v, want %v", tc.finaliser.Got, tc.wantFinalised)
			}
			if sink.Calls() > 1 {
				t.Errorf("sink calls: got %d, want at most 1 per batch", sink.Calls())
			}
			if !strings.Contains(logs.String(), `"msg":"stream batch"`) {
				t.Errorf("log: got %s, want a stream batch summary line", logs.String())
			}
		})
	}
}

// The response must say "no failures" as an empty list, which Lambda reads as success.
func TestHandlerResponseJSON(t *testing.T) {
	h := NewHandler(&publishtest.Sink{}, nil, nil)
	resp, err := h.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{publishtest.InsertRecord("1", publishtest.EventItem("s1", 1, "created"))}})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	got, _ := json.Marshal(resp)
	if want := `{"batchItemFailures":[]}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// The TTL fixtures of events/ reach the finaliser with their old image; other removes do not.
func TestHandlerTTLFixtures(t *testing.T) {
	tests := []struct {
		fixture       string
		wantFinalised []string
	}{
		{fixture: "ddb-stream-remove-ttl.json", wantFinalised: []string{"SESSION#s_m2x6p4ha3vdc9q7t"}},
		{fixture: "ddb-stream-remove-user.json"},
		{fixture: "ddb-stream-modify-session.json"},
		{fixture: "ddb-stream-batch-mixed.json", wantFinalised: []string{"SESSION#s_m2x6p4ha3vdc9q7t"}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "events", tc.fixture))
			if err != nil {
				t.Fatalf("read fixture: %v", err)
			}
			var batch events.DynamoDBEvent
			if err := json.Unmarshal(b, &batch); err != nil {
				t.Fatalf("decode fixture: %v", err)
			}
			fin := &recordingFinaliser{}
			resp, err := NewHandler(&publishtest.Sink{}, fin, nil).Handle(context.Background(), batch)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("Handle: got %v, %v; want no failures", resp.BatchItemFailures, err)
			}
			var got []string
			for _, old := range fin.items {
				got = append(got, old["PK"].String())
				if s, ok := old["status"]; !ok || s.DataType() != events.DataTypeString || s.String() != "deleted" {
					t.Errorf("old image status: got %v, want deleted", old["status"])
				}
				if ttl, ok := old["TTL"]; !ok || ttl.DataType() != events.DataTypeNumber {
					t.Errorf("old image has no numeric TTL: %v", old["TTL"])
				}
			}
			if !reflect.DeepEqual(got, tc.wantFinalised) {
				t.Errorf("finalised: got %v, want %v", got, tc.wantFinalised)
			}
		})
	}
}

// recordingFinaliser keeps the old images it is given.
type recordingFinaliser struct {
	items []map[string]events.DynamoDBAttributeValue
}

func (f *recordingFinaliser) FinaliseExpired(_ context.Context, old map[string]events.DynamoDBAttributeValue) error {
	f.items = append(f.items, old)
	return nil
}
