package ebsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/publish"
)

// fakeEventBridge records PutEvents calls. It fails the entries whose detail contains an
// event id in failEntries, and whole calls while failCalls > 0.
type fakeEventBridge struct {
	calls       [][]ebtypes.PutEventsRequestEntry
	failEntries map[string]bool
	failCalls   int
	dropEntries bool // answer with no entries at all
}

func (f *fakeEventBridge) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.calls = append(f.calls, in.Entries)
	if f.failCalls > 0 {
		f.failCalls--
		return nil, errors.New("throttled")
	}
	out := &eventbridge.PutEventsOutput{}
	for i, e := range in.Entries {
		var d publish.Detail
		_ = json.Unmarshal([]byte(aws.ToString(e.Detail)), &d)
		if f.failEntries[d.EventID] {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{
				ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again"),
			})
			continue
		}
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("eb-%d", i))})
	}
	if f.dropEntries {
		out.Entries = nil
	}
	return out, nil
}

// manyEvents is n events of session sid, each with a detail padded by detailBytes.
func manyEvents(sid string, n int, detailBytes int) []lifecycle.Event {
	evs := make([]lifecycle.Event, n)
	for i := range evs {
		evs[i] = wantEvent(sid, int64(i+1), "stopped")
		if detailBytes > 0 {
			evs[i].Detail = json.RawMessage(`{"pad":"` + strings.Repeat("x", detailBytes) + `"}`)
		}
	}
	return evs
}

func TestSinkEntry(t *testing.T) {
	sink := New(&fakeEventBridge{}, "bus-1")
	e := wantEvent("s1", 7, "stopped")
	got, err := sink.Entry(e)
	if err != nil {
		t.Fatalf("Entry: %v", err)
	}
	wantDetail, _ := publish.MarshalDetail(e)
	checks := []struct{ name, got, want string }{
		{"bus", aws.ToString(got.EventBusName), "bus-1"},
		{"source", aws.ToString(got.Source), "wspolicy.sessions"},
		{"detail-type", aws.ToString(got.DetailType), "stopped"},
		{"detail", aws.ToString(got.Detail), string(wantDetail)},
		{"time", aws.ToTime(got.Time).String(), t0.String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestSinkPublish(t *testing.T) {
	// An entry of 30 KiB: eight fit under 256 KiB, nine do not.
	const big = 30 * 1024
	tests := []struct {
		name        string
		events      []lifecycle.Event
		client      *fakeEventBridge
		wantCalls   []int    // entries per call
		wantFailed  []string // event ids whose error is non-nil
		wantErrText string   // in the first error
	}{
		{name: "one event", events: manyEvents("s1", 1, 0), client: &fakeEventBridge{}, wantCalls: []int{1}},
		{name: "batches of ten", events: manyEvents("s1", 25, 0), client: &fakeEventBridge{}, wantCalls: []int{10, 10, 5}},
		{name: "batches bounded by size", events: manyEvents("s1", 10, big), client: &fakeEventBridge{}, wantCalls: []int{8, 2}},
		{
			name:   "an entry over the limit fails alone",
			events: slices.Concat(manyEvents("a", 2, 0), manyEvents("big", 1, MaxRequestBytes), manyEvents("b", 1, 0)),
			client: &fakeEventBridge{}, wantCalls: []int{3}, wantFailed: []string{"big:1"}, wantErrText: "exceeds",
		},
		{
			name: "per-entry failures", events: manyEvents("s1", 12, 0),
			client:    &fakeEventBridge{failEntries: map[string]bool{"s1:2": true, "s1:11": true}},
			wantCalls: []int{10, 2}, wantFailed: []string{"s1:2", "s1:11"}, wantErrText: "InternalFailure: try again",
		},
		{
			name: "a failed call fails its entries only", events: manyEvents("s1", 12, 0),
			client:    &fakeEventBridge{failCalls: 1},
			wantCalls: []int{10, 2}, wantFailed: []string{"s1:1", "s1:2", "s1:3", "s1:4", "s1:5", "s1:6", "s1:7", "s1:8", "s1:9", "s1:10"},
			wantErrText: "throttled",
		},
		{
			name: "failures without entries fail the call", events: manyEvents("s1", 2, 0),
			client:    &fakeEventBridge{failEntries: map[string]bool{"s1:1": true}, dropEntries: true},
			wantCalls: []int{2}, wantFailed: []string{"s1:1", "s1:2"}, wantErrText: "does not say which",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := New(tc.client, "bus-1").Publish(context.Background(), tc.events)
			if len(errs) != len(tc.events) {
				t.Fatalf("errors: got %d, want one per event (%d)", len(errs), len(tc.events))
			}
			var gotCalls []int
			for _, c := range tc.client.calls {
				gotCalls = append(gotCalls, len(c))
				size := 0
				for _, e := range c {
					size += EntrySize(e)
				}
				if size > MaxRequestBytes {
					t.Errorf("a call of %d bytes, want at most %d", size, MaxRequestBytes)
				}
			}
			if !reflect.DeepEqual(gotCalls, tc.wantCalls) {
				t.Errorf("entries per call: got %v, want %v", gotCalls, tc.wantCalls)
			}
			var gotFailed []string
			var first error
			for i, err := range errs {
				if err != nil {
					gotFailed = append(gotFailed, tc.events[i].EventID)
					if first == nil {
						first = err
					}
				}
			}
			if !reflect.DeepEqual(gotFailed, tc.wantFailed) {
				t.Errorf("failed: got %v, want %v", gotFailed, tc.wantFailed)
			}
			if tc.wantErrText != "" && (first == nil || !strings.Contains(first.Error(), tc.wantErrText)) {
				t.Errorf("first error: got %v, want one containing %q", first, tc.wantErrText)
			}
		})
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)

// wantEvent is a valid event of session sessionID.
func wantEvent(sessionID string, seq int64, typ string) lifecycle.Event {
	return lifecycle.Event{
		EventID: fmt.Sprintf("%s:%d", sessionID, seq), SessionID: sessionID, UserID: "u1", Seq: seq,
		Type: lifecycle.EventType(typ), Actor: "system:sweep", Reason: "keepalive_expired",
		At:           t0,
		StatusBefore: lifecycle.StatusRunning, StatusAfter: lifecycle.StatusStopped, Detail: []byte(`{"k":1}`),
	}
}
