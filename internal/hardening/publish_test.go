package hardening

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"wspolicy/internal/faultinject"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/publish"
	"wspolicy/internal/publish/ebsink"
	"wspolicy/internal/publish/streams"
)

// busDetail is the part of a published entry's detail the tests read.
type busDetail struct {
	EventID   string `json:"event_id"`
	SessionID string `json:"session_id"`
	Seq       int64  `json:"seq"`
	Type      string `json:"type"`
}

// publisher is the stream publisher of a stack: the stream read from its start, the
// handler, and an EventBridge client (through the injector eb) on a stand-in bus.
type publisher struct {
	s       *stack
	bus     *faultinject.EventBus
	eb      *faultinject.Injector
	handler *publish.Handler
	reader  *streams.Reader

	mu      sync.Mutex
	batches []events.DynamoDBEvent
	// lost lists the events of records the handler reported done that the bus does not have.
	lost []string
	// failedReports counts the records reported as failed.
	failedReports int
}

func newPublisher(s *stack, ebFaults faultinject.Config) *publisher {
	s.t.Helper()
	p := &publisher{s: s, bus: faultinject.NewEventBus(), eb: faultinject.New(ebFaults)}
	srv := httptest.NewServer(p.bus)
	s.t.Cleanup(srv.Close)
	client := eventbridge.New(eventbridge.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer:     sdkRetryer(2),
	}, p.eb.EventBridge)
	p.handler = publish.NewHandler(ebsink.New(client, "wspolicy-test"), nil, nil)
	streamsClient, err := streams.NewClient(context.Background(), s.table.Endpoint)
	if err != nil {
		s.t.Fatalf("streams client: %v", err)
	}
	p.reader, err = streams.Open(context.Background(), streams.Config{
		Table: s.table.Name, Tables: s.table.Client, Streams: streamsClient, Handle: p.handle,
		PollInterval: 10 * time.Millisecond, FromStart: true,
	})
	if err != nil {
		s.t.Fatalf("open stream: %v", err)
	}
	return p
}

// handle is the handler as the stream reader calls it, checking after each batch that every
// event record it did not report as failed is on the bus.
func (p *publisher) handle(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	resp, err := p.handler.Handle(ctx, batch)
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	onBus := p.published()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batches = append(p.batches, batch)
	p.failedReports += len(resp.BatchItemFailures)
	for _, r := range batch.Records {
		if !publish.IsEventInsert(r) || failed[r.Change.SequenceNumber] {
			continue
		}
		id := r.Change.NewImage["event_id"].String()
		if len(onBus[id]) == 0 {
			p.lost = append(p.lost, id)
		}
	}
	return resp, err
}

// published groups the bus's entries by event id.
func (p *publisher) published() map[string][]busDetail {
	out := map[string][]busDetail{}
	for _, e := range p.bus.Entries() {
		var d busDetail
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			p.s.t.Errorf("bus entry %q: %v", e.Detail, err)
			continue
		}
		if e.DetailType != d.Type || e.Source != publish.Source {
			p.s.t.Errorf("bus entry %s: source %q detail-type %q, detail type %q", d.EventID, e.Source, e.DetailType, d.Type)
		}
		out[d.EventID] = append(out[d.EventID], d)
	}
	return out
}

// outbox reads every event of the sessions from the table (clean client).
func (s *stack) outbox(sessionIDs []string) []lifecycle.Event {
	s.t.Helper()
	var out []lifecycle.Event
	for _, id := range sessionIDs {
		evs, err := s.sessions.Events(context.Background(), id)
		if err != nil {
			s.t.Fatalf("events of %s: %v", id, err)
		}
		out = append(out, evs...)
	}
	return out
}

// drain polls the stream until every event of the outbox is on the bus, or fails after the
// deadline.
func (p *publisher) drain(want []lifecycle.Event, deadline time.Duration) {
	p.s.t.Helper()
	ctx := context.Background()
	end := time.Now().Add(deadline)
	for {
		p.reader.Poll(ctx)
		on := p.published()
		missing := 0
		for _, e := range want {
			if len(on[e.EventID]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(end) {
			p.s.t.Fatalf("after %v, %d of %d events are not on the bus", deadline, missing, len(want))
		}
	}
}

// makeEvents starts sessions and moves them through their states, so the outbox holds events
// of every kind a user action or sweep writes.
func makeEvents(s *stack, n int) []string {
	s.t.Helper()
	g := s.createGroup("publish-stop", 10, map[string]any{"keepalive_expiration": 60, "keepalive_expiration_action": "stop", "max_kasms_per_user": 1000})
	u := s.createUser("publish-user", g)
	var ids []string
	for i := range n {
		id := s.startSession(u, true).SessionID
		ids = append(ids, id)
		switch i % 3 {
		case 0:
			s.must(http.StatusOK, "POST", "/v1/sessions/"+id+"/pause", nil, nil)
			s.must(http.StatusOK, "POST", "/v1/sessions/"+id+"/resume", nil, nil)
		case 1:
			s.must(http.StatusOK, "DELETE", "/v1/sessions/"+id, nil, nil)
		}
	}
	s.clock.Advance(61 * time.Second)
	if rep, r := s.sweepNow(); r.Status != http.StatusOK || rep.Stopped == 0 {
		s.t.Fatalf("sweep: %s", r)
	}
	return ids
}

// TestPublishUnderFaults publishes the outbox through the stream while a third of the PutEvents
// calls fail (throttling, 5xx, timeouts — half of them after EventBridge took the entries) and
// a fifth of the entries of the others fail one by one. The handler must report every record
// whose event did not reach the bus, and re-delivery must publish each event, with the id it
// has in the table: nothing is lost, duplicates carry the same id and the same detail.
func TestPublishUnderFaults(t *testing.T) {
	s := newStack(t, stackOptions{stream: true})
	ids := makeEvents(s, 15)
	want := s.outbox(ids)
	p := newPublisher(s, faultinject.Config{Seed: 8, Operations: map[string]faultinject.Rule{
		"PutEvents": {Rate: 0.3, AfterSend: 0.5, Delay: time.Millisecond,
			Faults: []faultinject.Fault{faultinject.Throttle, faultinject.ServerError, faultinject.Timeout, faultinject.PartialFailure}},
	}})
	p.drain(want, 30*time.Second)
	stats := p.eb.Stats()
	t.Logf("%d events, %d batches, %d records reported failed, %d entries on the bus; faults injected:\n%s",
		len(want), len(p.batches), p.failedReports, len(p.bus.Entries()), stats)
	if stats.Total("") == 0 || p.failedReports == 0 {
		t.Fatalf("no fault surfaced (%d injected, %d records reported failed)", stats.Total(""), p.failedReports)
	}
	if len(p.lost) > 0 {
		t.Errorf("the handler reported %d records done whose events are not on the bus: %v", len(p.lost), p.lost)
	}
	on := p.published()
	for _, e := range want {
		for _, d := range on[e.EventID] {
			if d.SessionID != e.SessionID || d.Seq != e.Seq || d.Type != string(e.Type) {
				t.Errorf("event %s published as %+v, want session %s seq %d type %s", e.EventID, d, e.SessionID, e.Seq, e.Type)
			}
		}
	}
	if extra := len(on) - len(want); extra != 0 {
		t.Errorf("the bus has %d event ids that are not in the outbox", extra)
	}
}

// TestStreamBatchesDeliveredTwice delivers every batch of the stream a second time, as the
// event source mapping may after a timeout: each event is published again with the same id and
// detail (so a consumer that deduplicates on event_id acts once), and the table is unchanged.
func TestStreamBatchesDeliveredTwice(t *testing.T) {
	s := newStack(t, stackOptions{stream: true})
	ids := makeEvents(s, 9)
	want := s.outbox(ids)
	p := newPublisher(s, faultinject.Config{})
	p.drain(want, 30*time.Second)
	first := p.published()
	ctx := context.Background()
	for _, b := range p.batches {
		resp, err := p.handler.Handle(ctx, b)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("second delivery: %v, failures %v", err, resp.BatchItemFailures)
		}
	}
	twice := p.published()
	for _, e := range want {
		if got := len(first[e.EventID]); got != 1 {
			t.Errorf("event %s published %d times by the first delivery, want 1", e.EventID, got)
		}
		if got := len(twice[e.EventID]); got != 2 {
			t.Errorf("event %s published %d times by two deliveries, want 2", e.EventID, got)
			continue
		}
		if a, b := twice[e.EventID][0], twice[e.EventID][1]; a != b {
			t.Errorf("event %s published as %+v and then %+v", e.EventID, a, b)
		}
	}
	// A consumer that deduplicates on event_id acts on each event once.
	seen, acted := map[string]bool{}, map[string]int{}
	for _, entry := range p.bus.Entries() {
		var d busDetail
		if err := json.Unmarshal([]byte(entry.Detail), &d); err != nil {
			t.Fatalf("bus entry %q: %v", entry.Detail, err)
		}
		if !seen[d.EventID] {
			seen[d.EventID] = true
			acted[fmt.Sprintf("%s/%d/%s", d.SessionID, d.Seq, d.Type)]++
		}
	}
	for _, e := range want {
		if n := acted[fmt.Sprintf("%s/%d/%s", e.SessionID, e.Seq, e.Type)]; n != 1 {
			t.Errorf("a deduplicating consumer acted %d times on event %s (%s)", n, e.EventID, e.Type)
		}
	}
	if after := s.outbox(ids); len(after) != len(want) {
		t.Errorf("the outbox holds %d events after the second delivery, %d before", len(after), len(want))
	}
	s.checkSessions(s.userSessionsOwner(ids)...)
}

// userSessionsOwner returns the owners of the sessions (each once).
func (s *stack) userSessionsOwner(ids []string) []string {
	s.t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		sess, err := s.sessions.GetSession(context.Background(), id)
		if err != nil {
			s.t.Fatalf("get %s: %v", id, err)
		}
		if !seen[sess.UserID] {
			seen[sess.UserID] = true
			out = append(out, sess.UserID)
		}
	}
	return out
}
