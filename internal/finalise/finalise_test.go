package finalise_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbstore/storetest"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/finalise"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/publish"
	"wspolicy/internal/usage"
)

var _ publish.Finaliser = (*finalise.Finaliser)(nil)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture reads a stream event from the repository's events/ folder.
func fixture(t *testing.T, name string) events.DynamoDBEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return ev
}

// noSink fails the test if an event is published: these batches hold TTL deletions only.
type noSink struct{ t *testing.T }

func (s noSink) Publish(_ context.Context, evs []lifecycle.Event) []error {
	s.t.Errorf("published %d events, want none", len(evs))
	return make([]error, len(evs))
}

// stopLog is a countdown.Timer recording the sessions stopped.
type stopLog struct{ stopped []string }

func (l *stopLog) Start(context.Context, string, time.Time, time.Time) error { return nil }

func (l *stopLog) Stop(_ context.Context, id string) error {
	l.stopped = append(l.stopped, id)
	return nil
}

type env struct {
	tb     *ddbtest.Table
	dir    *ddbstore.Store
	store  *ddbstore.SessionStore
	clock  *policy.FixedClock
	timers *stopLog
	h      *publish.Handler
}

func newEnv(t *testing.T) env {
	t.Helper()
	se := storetest.New(t)
	e := env{tb: se.TB, dir: se.Dir, store: se.Sessions,
		clock: &policy.FixedClock{T: t0.Add(8 * 24 * time.Hour)}, timers: &stopLog{}}
	f := finalise.New(finalise.Config{Store: e.store, Countdowns: e.timers, Clock: e.clock})
	e.h = publish.NewHandler(noSink{t}, f, nil)
	return e
}

func (e env) handle(t *testing.T, batch events.DynamoDBEvent) {
	t.Helper()
	resp, err := e.h.Handle(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures: %+v", resp.BatchItemFailures)
	}
}

// item reads an item of the table as stored.
func (e env) item(t *testing.T, pk, sk string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := e.tb.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(e.tb.Name), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: pk}, "SK": &ddbtypes.AttributeValueMemberS{Value: sk},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func (e env) activeSessions(t *testing.T, user string) string {
	t.Helper()
	n, ok := e.item(t, "USER#"+user, "USER")["active_sessions"].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return "none"
	}
	return n.Value
}

// removeByTTL deletes a session item as DynamoDB's TTL process would and returns the stream
// batch reporting it: the events/ fixture's record with the item's old image.
func (e env) removeByTTL(t *testing.T, sessionID string) events.DynamoDBEvent {
	t.Helper()
	old := e.item(t, "SESSION#"+sessionID, "SESSION")
	if old == nil {
		t.Fatalf("session %s not stored", sessionID)
	}
	_, err := e.tb.Client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(e.tb.Name), Key: map[string]ddbtypes.AttributeValue{"PK": old["PK"], "SK": old["SK"]},
	})
	if err != nil {
		t.Fatal(err)
	}
	batch := fixture(t, "ddb-stream-remove-ttl.json")
	r := &batch.Records[0]
	r.Change.OldImage = streamImage(t, old)
	r.Change.Keys = map[string]events.DynamoDBAttributeValue{"PK": r.Change.OldImage["PK"], "SK": r.Change.OldImage["SK"]}
	return batch
}

// streamImage converts an item to the stream's representation.
func streamImage(t *testing.T, item map[string]ddbtypes.AttributeValue) map[string]events.DynamoDBAttributeValue {
	t.Helper()
	out := make(map[string]events.DynamoDBAttributeValue, len(item))
	for k, v := range item {
		out[k] = streamAttr(t, v)
	}
	return out
}

func streamAttr(t *testing.T, v ddbtypes.AttributeValue) events.DynamoDBAttributeValue {
	t.Helper()
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *ddbtypes.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *ddbtypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *ddbtypes.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *ddbtypes.AttributeValueMemberM:
		return events.NewMapAttribute(streamImage(t, v.Value))
	case *ddbtypes.AttributeValueMemberL:
		var l []events.DynamoDBAttributeValue
		for _, x := range v.Value {
			l = append(l, streamAttr(t, x))
		}
		return events.NewListAttribute(l)
	}
	t.Fatalf("attribute type %T not converted", v)
	return events.DynamoDBAttributeValue{}
}

// TestFixtureDeletedSession feeds events/ddb-stream-remove-ttl.json as it is: a session that
// was deleted before TTL removed it has nothing open, and nothing is written.
func TestFixtureDeletedSession(t *testing.T) {
	e := newEnv(t)
	e.handle(t, fixture(t, "ddb-stream-remove-ttl.json"))
	if _, err := e.store.Events(context.Background(), "s_m2x6p4ha3vdc9q7t"); !policy.IsKind(err, policy.KindNotFound) {
		t.Errorf("events of the removed session: got %v, want none written", err)
	}
	if len(e.timers.stopped) != 0 {
		t.Errorf("countdowns stopped: got %v, want none", e.timers.stopped)
	}
}

func TestLiveSessionRemovedByTTL(t *testing.T) {
	lt := lifecycle.Lifetime{KeepaliveExpiration: time.Minute, Action: lifecycle.ActionStop,
		KeepaliveInterval: time.Second, IdleDisconnect: time.Hour, MaxSessions: 5}
	limited := lt
	limited.TimeLimit = time.Hour
	tests := []struct {
		name        string
		lt          lifecycle.Lifetime
		pause       bool // paused before the removal
		deleteUser  bool // the user is gone before the removal
		budget      bool // charged to a per_user budget
		deliveries  int
		wantEvents  string
		wantActive  string
		wantStopped string
	}{
		{name: "running session", lt: lt, deliveries: 1,
			wantEvents: "created deleted", wantActive: "0"},
		{name: "delivered three times: finalised once", lt: lt, deliveries: 3,
			wantEvents: "created deleted", wantActive: "0"},
		{name: "paused session", lt: lt, pause: true, deliveries: 1,
			wantEvents: "created paused deleted", wantActive: "0"},
		{name: "time-limited session: its countdown is stopped", lt: limited, deliveries: 2,
			wantEvents: "created deleted", wantActive: "0", wantStopped: "s1 s1"},
		{name: "user gone: the session still ends", lt: lt, deleteUser: true, deliveries: 1,
			wantEvents: "created deleted", wantActive: "none"},
		{name: "charged to a budget: the charge ends", lt: lt, budget: true, deliveries: 2,
			wantEvents: "created deleted", wantActive: "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			if _, err := e.dir.CreateUser(ctx, policy.User{ID: "u1", Username: "u1"}); err != nil {
				t.Fatal(err)
			}
			s, created := lifecycle.NewSession("s1", "u1", "img", true, tc.lt, t0)
			var b usage.Budget
			if tc.budget {
				var err error
				if b, err = usage.NewBudget("u1", usage.Limit{Type: "per_user", Interval: "total", Hours: 1000}, usage.Source{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.store.StartCharged(ctx, s, created, b); err != nil {
				t.Fatal(err)
			}
			if tc.pause {
				cur, err := e.store.GetSession(ctx, "s1")
				if err != nil {
					t.Fatal(err)
				}
				c, err := lifecycle.Act(cur, lifecycle.OpPause, lifecycle.AdminActor(), lifecycle.Permissions{}, t0.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				if err := e.store.Transition(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if tc.deleteUser {
				if err := e.dir.DeleteUser(ctx, "u1"); err != nil {
					t.Fatal(err)
				}
			}
			batch := e.removeByTTL(t, "s1")
			for range tc.deliveries {
				e.handle(t, batch)
			}
			evs, err := e.store.Events(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, ev := range evs {
				types = append(types, string(ev.Type))
			}
			if got := strings.Join(types, " "); got != tc.wantEvents {
				t.Errorf("events: got %q, want %q", got, tc.wantEvents)
			}
			last := evs[len(evs)-1]
			wantBefore := lifecycle.StatusRunning
			if tc.pause {
				wantBefore = lifecycle.StatusPaused
			}
			if last.Actor != finalise.ActorTTL || last.Reason != finalise.ReasonItemExpired ||
				last.StatusBefore != wantBefore || last.StatusAfter != lifecycle.StatusDeleted || !last.At.Equal(e.clock.Now()) {
				t.Errorf("final event: got %+v, want deleted by %s (%s) from %s at %s", last, finalise.ActorTTL, finalise.ReasonItemExpired, wantBefore, e.clock.Now())
			}
			if item := e.item(t, "SESSION#s1", "SESSION#LAUNCH"); item != nil {
				t.Errorf("launch item: got %v, want it deleted with the session", item)
			}
			if got := e.activeSessions(t, "u1"); got != tc.wantActive {
				t.Errorf("active_sessions: got %s, want %s", got, tc.wantActive)
			}
			if got := strings.Join(e.timers.stopped, " "); got != tc.wantStopped {
				t.Errorf("countdowns stopped: got %q, want %q", got, tc.wantStopped)
			}
			if tc.budget {
				members, err := e.store.BudgetMembers(ctx, b.Key)
				if err != nil {
					t.Fatal(err)
				}
				bl, err := e.store.GetLedger(ctx, b.Key)
				if err != nil {
					t.Fatal(err)
				}
				wantClosed := e.clock.Now().Sub(t0).Milliseconds()
				if len(members) != 0 || bl.Ledger.OpenCount != 0 || bl.Ledger.ClosedMs != wantClosed {
					t.Errorf("budget: %d members, ledger %+v; want no member, open 0, closed %d ms (start to finalisation)",
						len(members), bl.Ledger, wantClosed)
				}
			}
		})
	}
}

// TestOtherItemsRemovedByTTL: events, launch items and idle ledgers need nothing; unknown items
// are ignored.
func TestOtherItemsRemovedByTTL(t *testing.T) {
	tests := []struct {
		name string
		item map[string]ddbtypes.AttributeValue
	}{
		{name: "event", item: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "SESSION#s1"}, "SK": &ddbtypes.AttributeValueMemberS{Value: "EVENT#00000001"},
			"type": &ddbtypes.AttributeValueMemberS{Value: "created"}}},
		{name: "a session's launch item", item: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "SESSION#s1"}, "SK": &ddbtypes.AttributeValueMemberS{Value: "SESSION#LAUNCH"},
			"client_settings": &ddbtypes.AttributeValueMemberS{Value: `{"allow_kasm_audio":true}`},
			"launch":          &ddbtypes.AttributeValueMemberS{Value: `{"image_id":"img"}`},
			"TTL":             &ddbtypes.AttributeValueMemberN{Value: "1772971320"}}},
		{name: "idle ledger", item: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "BUDGET#user#u1#daily"}, "SK": &ddbtypes.AttributeValueMemberS{Value: "LEDGER"},
			"budget": &ddbtypes.AttributeValueMemberS{Value: "user#u1#daily"}, "open_count": &ddbtypes.AttributeValueMemberN{Value: "0"}}},
		{name: "something else", item: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "THING#1"}, "SK": &ddbtypes.AttributeValueMemberS{Value: "THING"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := finalise.New(finalise.Config{Store: e.store, Countdowns: e.timers, Clock: e.clock})
			if err := f.FinaliseExpired(context.Background(), streamImage(t, tc.item)); err != nil {
				t.Errorf("FinaliseExpired: got %v, want nil", err)
			}
			if _, err := e.store.Events(context.Background(), "s1"); !policy.IsKind(err, policy.KindNotFound) {
				t.Errorf("events written: %v", err)
			}
		})
	}
}
