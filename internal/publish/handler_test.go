package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestHandlerHandle(t *testing.T) {
	badDetail := eventItem("s3", 1, "created")
	badDetail["detail"] = &types.AttributeValueMemberS{Value: "{"}
	mixed := []events.DynamoDBEventRecord{
		insertRecord("100", eventItem("s1", 1, "created")),
		insertRecord("101", sessionItem("s1")),
		removeRecord("102", sessionItem("s9"), true),
		insertRecord("103", eventItem("s1", 2, "keepalive_expired")),
		removeRecord("104", sessionItem("s8"), false),
		insertRecord("105", eventItem("s2", 1, "created")),
	}
	tests := []struct {
		name          string
		records       []events.DynamoDBEventRecord
		sinkFails     []string
		finaliser     *fakeFinaliser
		wantPublished []string
		wantFinalised []string
		wantFailed    []string
	}{
		{
			name:          "mixed batch",
			records:       mixed,
			finaliser:     &fakeFinaliser{},
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
			finaliser:     &fakeFinaliser{fail: map[string]bool{"SESSION#s9": true}},
			wantPublished: []string{"s1:1", "s1:2", "s2:1"},
			wantFinalised: []string{"SESSION#s9"},
			wantFailed:    []string{"102"},
		},
		{
			name:          "an undecodable event fails its record",
			records:       []events.DynamoDBEventRecord{insertRecord("1", eventItem("s1", 1, "created")), insertRecord("2", badDetail)},
			wantPublished: []string{"s1:1"},
			wantFailed:    []string{"2"},
		},
		{
			name:       "failures in record order",
			records:    mixed,
			sinkFails:  []string{"s2:1", "s1:1"},
			finaliser:  &fakeFinaliser{fail: map[string]bool{"SESSION#s9": true}},
			wantFailed: []string{"100", "102", "105"}, wantFinalised: []string{"SESSION#s9"},
			wantPublished: []string{"s1:2"},
		},
		{name: "empty batch", records: nil, wantFailed: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &fakeSink{fail: map[string]bool{}}
			for _, id := range tc.sinkFails {
				sink.fail[id] = true
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
			for _, e := range sink.published() {
				gotPublished = append(gotPublished, e.EventID)
			}
			if !reflect.DeepEqual(gotPublished, tc.wantPublished) {
				t.Errorf("published: got %v, want %v", gotPublished, tc.wantPublished)
			}
			if tc.finaliser != nil && !reflect.DeepEqual(tc.finaliser.got, tc.wantFinalised) {
				t.Errorf("finalised: got %v, want %v", tc.finaliser.got, tc.wantFinalised)
			}
			if len(sink.calls) > 1 {
				t.Errorf("sink calls: got %d, want at most 1 per batch", len(sink.calls))
			}
			if !strings.Contains(logs.String(), `"msg":"stream batch"`) {
				t.Errorf("log: got %s, want a stream batch summary line", logs.String())
			}
		})
	}
}

// The response must say "no failures" as an empty list, which Lambda reads as success.
func TestHandlerResponseJSON(t *testing.T) {
	h := NewHandler(&fakeSink{}, nil, nil)
	resp, err := h.Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{insertRecord("1", eventItem("s1", 1, "created"))}})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	got, _ := json.Marshal(resp)
	if want := `{"batchItemFailures":[]}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
