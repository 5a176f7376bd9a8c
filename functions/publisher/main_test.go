package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"wspolicy/internal/publish"
)

// fakeEventBridge records PutEvents calls, fails the entries of the event ids in failIDs, and
// fails every call when failCalls is set.
type fakeEventBridge struct {
	calls     [][]ebtypes.PutEventsRequestEntry
	failIDs   map[string]bool
	failCalls bool
}

func (f *fakeEventBridge) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.calls = append(f.calls, in.Entries)
	if f.failCalls {
		return nil, errors.New("service unavailable")
	}
	out := &eventbridge.PutEventsOutput{}
	for i, e := range in.Entries {
		var d publish.Detail
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
			return nil, fmt.Errorf("entry %d detail: %w", i, err)
		}
		if f.failIDs[d.EventID] {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("boom")})
			continue
		}
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("eb-%d", i))})
	}
	return out, nil
}

// fixture reads a stream event from the repository's events/ folder.
func fixture(t *testing.T, name string) events.DynamoDBEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode fixture %s: %v", name, err)
	}
	return ev
}

// sent is one PutEvents entry as the test compares it.
type sent struct {
	bus, source, detailType, eventID string
}

func TestHandlerWithFixtures(t *testing.T) {
	const (
		sid1 = "s_7k3qdw2xhcm4fzpa"
		sid2 = "s_m2x6p4ha3vdc9q7t"
		sid3 = "s_q9w2e8r7t6y5u4i3"
	)
	entry := func(typ, id string) sent { return sent{"sessions-bus", "wspolicy.sessions", typ, id} }
	mixedSent := []sent{
		entry("created", sid2+":1"), entry("keepalive_expired", sid1+":2"),
		entry("stopped", sid1+":3"), entry("deleted", sid3+":5"),
	}
	tests := []struct {
		name       string
		fixture    string
		client     *fakeEventBridge
		wantCalls  int
		wantSent   []sent
		wantFailed []string
	}{
		{
			name: "insert of an event is published", fixture: "ddb-stream-insert-event.json", client: &fakeEventBridge{},
			wantCalls: 1, wantSent: []sent{entry("stopped", sid1+":3")}, wantFailed: []string{},
		},
		{name: "modify of a session is ignored", fixture: "ddb-stream-modify-session.json", client: &fakeEventBridge{}, wantFailed: []string{}},
		{name: "ttl remove is left to the finaliser", fixture: "ddb-stream-remove-ttl.json", client: &fakeEventBridge{}, wantFailed: []string{}},
		{name: "user remove is ignored", fixture: "ddb-stream-remove-user.json", client: &fakeEventBridge{}, wantFailed: []string{}},
		{
			name: "mixed batch publishes its events in one call", fixture: "ddb-stream-batch-mixed.json", client: &fakeEventBridge{},
			wantCalls: 1, wantSent: mixedSent, wantFailed: []string{},
		},
		{
			name: "a failed entry fails its record", fixture: "ddb-stream-batch-mixed.json",
			client:    &fakeEventBridge{failIDs: map[string]bool{sid1 + ":2": true}},
			wantCalls: 1, wantSent: mixedSent, wantFailed: []string{"4421584500000000017450439012"},
		},
		{
			name: "a failed call fails every event record", fixture: "ddb-stream-batch-mixed.json",
			client:    &fakeEventBridge{failCalls: true},
			wantCalls: 1, wantSent: mixedSent,
			wantFailed: []string{
				"4421584500000000017450439011", "4421584500000000017450439012",
				"4421584500000000017450439013", "4421584500000000017450439017",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := newHandler(settings{table: "sessions-table", bus: "sessions-bus"}, tc.client, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
			resp, err := h.Handle(context.Background(), fixture(t, tc.fixture))
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
			if len(tc.client.calls) != tc.wantCalls {
				t.Errorf("PutEvents calls: got %d, want %d", len(tc.client.calls), tc.wantCalls)
			}
			var gotSent []sent
			for _, call := range tc.client.calls {
				for _, e := range call {
					var d publish.Detail
					if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
						t.Fatalf("detail: %v", err)
					}
					gotSent = append(gotSent, sent{aws.ToString(e.EventBusName), aws.ToString(e.Source), aws.ToString(e.DetailType), d.EventID})
				}
			}
			if !reflect.DeepEqual(gotSent, tc.wantSent) {
				t.Errorf("sent: got %v, want %v", gotSent, tc.wantSent)
			}
			if !strings.Contains(logs.String(), `"table":"sessions-table"`) {
				t.Errorf("log lines name no table: %s", logs.String())
			}
		})
	}
}

// The detail of the created event carries its JSON detail as an object.
func TestCreatedEventDetail(t *testing.T) {
	client := &fakeEventBridge{}
	h := newHandler(settings{table: "t", bus: "b"}, client, nil, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if _, err := h.Handle(context.Background(), fixture(t, "ddb-stream-batch-mixed.json")); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if len(client.calls) == 0 {
		t.Fatalf("no PutEvents call")
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(client.calls[0][0].Detail)), &got); err != nil {
		t.Fatalf("detail: %v", err)
	}
	want := map[string]any{
		"event_id": "s_m2x6p4ha3vdc9q7t:1", "session_id": "s_m2x6p4ha3vdc9q7t", "user_id": "u_bob", "seq": 1.0,
		"type": "created", "actor": "user:u_bob", "reason": "started", "at": "2026-03-01T12:00:00.000Z",
		"status_before": "", "status_after": "running",
		"detail": map[string]any{
			"client_settings": map[string]any{"allow_kasm_audio": true, "idle_disconnect": 20.0},
			"launch":          map[string]any{"image_id": "img_ubuntu", "url": "https://workspace.example/desktop"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("detail:\ngot  %v\nwant %v", got, want)
	}
}

func TestSettingsFrom(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    settings
		wantErr bool
	}{
		{name: "both set", env: map[string]string{"TABLE_NAME": "t", "EVENT_BUS_NAME": "b"}, want: settings{table: "t", bus: "b"}},
		{name: "no bus", env: map[string]string{"TABLE_NAME": "t"}, wantErr: true},
		{name: "no table", env: map[string]string{"EVENT_BUS_NAME": "b"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := settingsFrom(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("error: got %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
