package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"wspolicy/internal/lambdarie"
	"wspolicy/internal/publish"
)

// eventBridgeServer answers PutEvents as EventBridge does (JSON 1.1) and records the entries.
type eventBridgeServer struct {
	mu      sync.Mutex
	calls   [][]putEntry
	failIDs map[string]bool
	bad     []string // requests that were not PutEvents
}

type putEntry struct {
	Source       string `json:"Source"`
	DetailType   string `json:"DetailType"`
	Detail       string `json:"Detail"`
	EventBusName string `json:"EventBusName"`
}

func (s *eventBridgeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if target := r.Header.Get("X-Amz-Target"); r.Method != http.MethodPost || target != "AWSEvents.PutEvents" {
		s.bad = append(s.bad, r.Method+" "+r.URL.Path+" "+target)
		http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
		return
	}
	var in struct{ Entries []putEntry }
	if err := json.Unmarshal(body, &in); err != nil {
		s.bad = append(s.bad, "undecodable body: "+err.Error())
		http.Error(w, `{"__type":"SerializationException"}`, http.StatusBadRequest)
		return
	}
	s.calls = append(s.calls, in.Entries)
	type result struct {
		EventID      string `json:"EventId,omitempty"`
		ErrorCode    string `json:"ErrorCode,omitempty"`
		ErrorMessage string `json:"ErrorMessage,omitempty"`
	}
	out := struct {
		FailedEntryCount int      `json:"FailedEntryCount"`
		Entries          []result `json:"Entries"`
	}{Entries: []result{}}
	for i, e := range in.Entries {
		var d publish.Detail
		_ = json.Unmarshal([]byte(e.Detail), &d)
		if s.failIDs[d.EventID] {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "InternalFailure", ErrorMessage: "try again"})
			continue
		}
		out.Entries = append(out.Entries, result{EventID: fmt.Sprintf("11710aed-b79e-4468-a20b-bb3c0c3b4%03d", len(s.calls)*10+i)})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *eventBridgeServer) take() (calls [][]putEntry, bad []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	calls, bad, s.calls, s.bad = s.calls, s.bad, nil, nil
	return calls, bad
}

func (s *eventBridgeServer) setFail(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failIDs = map[string]bool{}
	for _, id := range ids {
		s.failIDs[id] = true
	}
}

// The built bootstrap, run as Lambda runs it, publishes the fixtures' events to an EventBridge
// endpoint and answers with the records that failed.
func TestPublisherUnderEmulator(t *testing.T) {
	eb := &eventBridgeServer{}
	srv := httptest.NewServer(eb)
	defer srv.Close()
	fn := lambdarie.StartFunction(t, "publisher", lambdarie.Options{Env: map[string]string{
		"TABLE_NAME":                   "sessions-table",
		"EVENT_BUS_NAME":               "sessions-bus",
		"AWS_ENDPOINT_URL_EVENTBRIDGE": srv.URL,
	}})
	const sid1 = "s_7k3qdw2xhcm4fzpa"
	tests := []struct {
		name       string
		fixture    string
		failIDs    []string
		wantTypes  [][]string // detail-types per PutEvents call
		wantFailed []string
	}{
		{name: "insert of an event", fixture: "ddb-stream-insert-event.json", wantTypes: [][]string{{"stopped"}}, wantFailed: []string{}},
		{name: "modify of a session", fixture: "ddb-stream-modify-session.json", wantFailed: []string{}},
		{name: "ttl remove", fixture: "ddb-stream-remove-ttl.json", wantFailed: []string{}},
		{name: "user remove", fixture: "ddb-stream-remove-user.json", wantFailed: []string{}},
		{
			name: "mixed batch", fixture: "ddb-stream-batch-mixed.json",
			wantTypes: [][]string{{"created", "keepalive_expired", "stopped", "deleted"}}, wantFailed: []string{},
		},
		{
			name: "mixed batch with a failed entry", fixture: "ddb-stream-batch-mixed.json", failIDs: []string{sid1 + ":2"},
			wantTypes:  [][]string{{"created", "keepalive_expired", "stopped", "deleted"}},
			wantFailed: []string{"4421584500000000017450439012"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eb.setFail(tc.failIDs...)
			resp := fn.InvokeFixture(t, tc.fixture)
			if resp.Status != http.StatusOK || resp.FunctionError() != "" {
				t.Fatalf("invoke: status %d, function error %q, body %s\n%s", resp.Status, resp.FunctionError(), resp.Body, fn.Output())
			}
			var got events.DynamoDBEventResponse
			if err := json.Unmarshal(resp.Body, &got); err != nil {
				t.Fatalf("answer %s: %v", resp.Body, err)
			}
			gotFailed := []string{}
			for _, f := range got.BatchItemFailures {
				gotFailed = append(gotFailed, f.ItemIdentifier)
			}
			if !reflect.DeepEqual(gotFailed, tc.wantFailed) {
				t.Errorf("failed records: got %v, want %v", gotFailed, tc.wantFailed)
			}
			calls, bad := eb.take()
			if len(bad) > 0 {
				t.Errorf("requests EventBridge would refuse: %v", bad)
			}
			var gotTypes [][]string
			for _, c := range calls {
				var types []string
				for _, e := range c {
					types = append(types, e.DetailType)
					if e.Source != publish.Source || e.EventBusName != "sessions-bus" {
						t.Errorf("entry source %q bus %q, want %q on sessions-bus", e.Source, e.EventBusName, publish.Source)
					}
					var d publish.Detail
					if err := json.Unmarshal([]byte(e.Detail), &d); err != nil || d.EventID == "" || d.Type != e.DetailType {
						t.Errorf("entry detail %s: want the event document (err %v)", e.Detail, err)
					}
				}
				gotTypes = append(gotTypes, types)
			}
			if !reflect.DeepEqual(gotTypes, tc.wantTypes) {
				t.Errorf("detail-types per call: got %v, want %v", gotTypes, tc.wantTypes)
			}
		})
	}
	t.Logf("publisher under aws-lambda-rie: first answer %v after process start", fn.FirstAnswer())
}
