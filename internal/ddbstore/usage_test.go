package ddbstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/tabledef"
	"wspolicy/internal/usage"
)

func testBudget(t *testing.T, user string, hours float64) usage.Budget {
	t.Helper()
	b, err := usage.NewBudget(user, usage.Limit{Type: usage.PerUser, Interval: "daily", Hours: hours}, usage.Source{GroupID: "g1", Name: "g1", Priority: 10})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (env sessionEnv) startCharged(t *testing.T, id, user string, b usage.Budget, at time.Time) lifecycle.Session {
	t.Helper()
	s, ev := lifecycle.NewSession(id, user, "img", true, testLifetime(), at)
	s, err := env.ss.StartCharged(context.Background(), s, ev, b)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return s
}

// rawItem reads an item as stored.
func (env sessionEnv) rawItem(t *testing.T, pk, sk string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := env.tb.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(env.tb.Name), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"PK": &ddbtypes.AttributeValueMemberS{Value: pk}, "SK": &ddbtypes.AttributeValueMemberS{Value: sk}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func attrString(item map[string]ddbtypes.AttributeValue, name string) string {
	switch v := item[name].(type) {
	case *ddbtypes.AttributeValueMemberS:
		return v.Value
	case *ddbtypes.AttributeValueMemberN:
		return v.Value
	case nil:
		return "<none>"
	}
	return fmt.Sprintf("%T", item[name])
}

// TestChargedStartAndEndItems checks the items of docs/design-usage.md section 5 after a
// start and after the end of a charged session.
func TestChargedStartAndEndItems(t *testing.T) {
	env := newSessionEnv(t, "u1")
	b := testBudget(t, "u1", 2)
	s := env.startCharged(t, "s1", "u1", b, st0)
	// One session from 12:00 on 2 h: runs out at 14:00; the session's due time stays its expiry.
	if s.Budget != "user#u1#daily" || !s.UsageDeadline.Equal(st0.Add(2*time.Hour)) || !s.DueAt.Equal(st0.Add(time.Minute)) {
		t.Errorf("session = budget %q deadline %v due %v", s.Budget, s.UsageDeadline, s.DueAt)
	}
	if got := env.get(t, "s1"); got.Budget != s.Budget || !got.UsageDeadline.Equal(s.UsageDeadline) {
		t.Errorf("stored session = budget %q deadline %v", got.Budget, got.UsageDeadline)
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	check := func(name string, item map[string]ddbtypes.AttributeValue, want map[string]string) {
		t.Run(name, func(t *testing.T) {
			for attr, w := range want {
				if got := attrString(item, attr); got != w {
					t.Errorf("%s = %s, want %s", attr, got, w)
				}
			}
		})
	}
	check("ledger after the start", env.rawItem(t, "BUDGET#user#u1#daily", "LEDGER"), map[string]string{
		"budget": "user#u1#daily", "limit_type": "per_user", "limit_interval": "daily", "limit_hours": "2",
		"limit_ms": "7200000", "source_group_id": "g1", "window_start_ms": fmt.Sprint(day), "closed_ms": "0",
		"open_count": "1", "open_since_sum_ms": fmt.Sprint(st0.UnixMilli()), "version": "1",
		"DueShard": fmt.Sprint(dueShardName(t, "user#u1#daily")), "DueAt": fmt.Sprint(st0.Add(2 * time.Hour).UnixMilli()), "TTL": "<none>",
	})
	check("membership", env.rawItem(t, "BUDGET#user#u1#daily", "OPEN#s1"), map[string]string{
		"session_id": "s1", "user_id": "u1", "since_ms": fmt.Sprint(st0.UnixMilli()),
	})
	c, err := lifecycle.Act(env.get(t, "s1"), lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, st0.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	env.tb.ResetCalls()
	if err := env.ss.Transition(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := env.tb.Calls(); got != 2 {
		t.Errorf("end took %d requests, want 2 (ledger read, transaction)", got)
	}
	nextDay := day + 24*3_600_000
	check("ledger after the end", env.rawItem(t, "BUDGET#user#u1#daily", "LEDGER"), map[string]string{
		"closed_ms": "1800000", "open_count": "0", "open_since_sum_ms": "0", "version": "2",
		"DueShard": "<none>", "DueAt": "<none>", "TTL": fmt.Sprint((nextDay + 24*3_600_000) / 1000),
	})
	if item := env.rawItem(t, "BUDGET#user#u1#daily", "OPEN#s1"); item != nil {
		t.Errorf("membership after the end = %v, want none", item)
	}
}

// dueShardName is the due partition of a key (fnv32a mod DueShards), computed independently.
func dueShardName(t *testing.T, key string) string {
	t.Helper()
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return fmt.Sprintf("DUE#%d", h%tabledef.DueShards)
}

// TestChargedKeepaliveOneRequest: a session charged to a budget keeps the one-request keepalive.
func TestChargedKeepaliveOneRequest(t *testing.T) {
	env := newSessionEnv(t, "u1")
	env.startCharged(t, "s1", "u1", testBudget(t, "u1", 1), st0)
	env.tb.ResetCalls()
	r, err := sessions.RunKeepalive(context.Background(), env.ss, "s1", "u1", st0.Add(10*time.Second), 0)
	if err != nil || r.UsageReached || !r.ExpiresAt.Equal(st0.Add(70*time.Second)) {
		t.Errorf("keepalive = %+v, %v", r, err)
	}
	if got := env.tb.Calls(); got != 1 {
		t.Errorf("keepalive took %d requests, want 1", got)
	}
}

// TestDueItems: ledgers share the due index with sessions; DueSessions leaves them out.
func TestDueItems(t *testing.T) {
	env := newSessionEnv(t, "u1")
	env.startCharged(t, "s1", "u1", testBudget(t, "u1", 0.001), st0)
	ctx := context.Background()
	now := st0.Add(2 * time.Minute) // past the ledger's 3.6 s and the session's 1 min expiry
	var ledgers []lifecycle.BudgetLedger
	var items, sessions int
	for shard := range tabledef.DueShards {
		p, err := env.ss.DueItems(ctx, now, shard, "")
		if err != nil {
			t.Fatal(err)
		}
		ledgers = append(ledgers, p.Ledgers...)
		items += len(p.Sessions) + len(p.Ledgers)
		sp, err := env.ss.DueSessions(ctx, now, shard, "")
		if err != nil {
			t.Fatal(err)
		}
		sessions += len(sp.Sessions)
	}
	if items != 2 || sessions != 1 || len(ledgers) != 1 {
		t.Fatalf("due items %d, sessions %d, ledgers %d; want 2, 1, 1", items, sessions, len(ledgers))
	}
	bl := ledgers[0]
	if bl.Budget.Key != "user#u1#daily" || bl.Budget.LimitMs != 3600 || bl.Budget.Interval != usage.Daily || bl.Version != 1 ||
		bl.Ledger.OpenCount != 1 || !bl.DueAt.Equal(st0.Add(3600*time.Millisecond)) {
		t.Errorf("due ledger = %+v", bl)
	}
}

// TestRescheduleLedger rewrites a due time that went stale, once; a stale read writes nothing.
func TestRescheduleLedger(t *testing.T) {
	env := newSessionEnv(t, "u1")
	env.startCharged(t, "s1", "u1", testBudget(t, "u1", 1), st0)
	ctx := context.Background()
	_, err := env.tb.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(env.tb.Name),
		Key: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "BUDGET#user#u1#daily"}, "SK": &ddbtypes.AttributeValueMemberS{Value: "LEDGER"},
		},
		UpdateExpression:          aws.String("SET DueAt = :early"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":early": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(st0.Add(time.Minute).UnixMilli())}},
	})
	if err != nil {
		t.Fatal(err)
	}
	bl, err := env.ss.GetLedger(ctx, "user#u1#daily")
	if err != nil {
		t.Fatal(err)
	}
	stale := bl
	stale.Version--
	stale.Shards = slices.Clone(bl.Shards)
	stale.Shards[0].Version-- // the version every shard's write is conditional on
	tests := []struct {
		name string
		bl   lifecycle.BudgetLedger
		want bool
	}{
		{"stale read: nothing", stale, false},
		{"stale due time: rewritten", bl, true},
		{"already rewritten (the version moved): nothing", bl, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := env.ss.RescheduleLedger(ctx, tc.bl, st0.Add(2*time.Minute))
			if err != nil || got != tc.want {
				t.Errorf("RescheduleLedger() = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if bl, _ := env.ss.GetLedger(ctx, "user#u1#daily"); !bl.DueAt.Equal(st0.Add(time.Hour)) || bl.Version != 2 {
		t.Errorf("ledger = %+v, want due at %v, version 2", bl, st0.Add(time.Hour))
	}
}

// TestEndWithoutLedger: a session that claims a budget with no ledger (data from before
// budgets, or a bug) still ends.
func TestEndWithoutLedger(t *testing.T) {
	env := newSessionEnv(t, "u1")
	s, ev := lifecycle.NewSession("s1", "u1", "img", true, testLifetime(), st0)
	s.Budget = "user#u1#daily"
	if err := ddbtest.StartSession(context.Background(), env.ss, s, ev); err != nil {
		t.Fatal(err)
	}
	c, _ := lifecycle.Act(s, lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, st0.Add(time.Second))
	if err := env.ss.Transition(context.Background(), c); err != nil {
		t.Fatalf("end: %v", err)
	}
	if got := env.get(t, "s1").Status; got != lifecycle.StatusDeleted {
		t.Errorf("status = %s, want deleted", got)
	}
}

// TestLedgerRaceGivesUp: when every transaction finds the ledger changed since it was read, a
// start and an end give up with 503 retry_later and write nothing.
func TestLedgerRaceGivesUp(t *testing.T) {
	env := newSessionEnv(t, "u1")
	b := testBudget(t, "u1", 5)
	s := env.startCharged(t, "s1", "u1", b, st0)
	ctx := context.Background()
	bump := func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if awsmiddleware.GetOperationName(ctx) == "TransactWriteItems" {
			_, err := env.tb.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(env.tb.Name),
				Key: map[string]ddbtypes.AttributeValue{
					"PK": &ddbtypes.AttributeValueMemberS{Value: "BUDGET#" + b.Key}, "SK": &ddbtypes.AttributeValueMemberS{Value: "LEDGER"},
				},
				UpdateExpression:          aws.String("SET version = version + :one"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": &ddbtypes.AttributeValueMemberN{Value: "1"}},
			})
			if err != nil {
				return middleware.InitializeOutput{}, middleware.Metadata{}, err
			}
		}
		return next.HandleInitialize(ctx, in)
	}
	racy, err := ddbkit.NewClient(ctx, env.tb.Endpoint, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("bumpLedger", bump), middleware.After)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ss := ddbstore.Open(racy, env.tb.Name, ddbstore.WithLedgerPatience(300*time.Millisecond)).Sessions()
	before, _ := env.ss.GetLedger(ctx, b.Key)

	s2, ev := lifecycle.NewSession("s2", "u1", "img", true, testLifetime(), st0.Add(time.Second))
	_, err = ss.StartCharged(ctx, s2, ev, b)
	wantCode(t, err, policy.KindUnavailable, "retry_later")
	if _, err := env.ss.GetSession(ctx, "s2"); policy.CodeOf(err) != policy.CodeSessionNotFound {
		t.Errorf("session after a start that gave up: %v, want not found", err)
	}
	c, _ := lifecycle.Act(s, lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, st0.Add(time.Minute))
	wantCode(t, ss.Transition(ctx, c), policy.KindUnavailable, "retry_later")
	after, _ := env.ss.GetLedger(ctx, b.Key)
	if env.get(t, "s1").Status != lifecycle.StatusRunning || after.Ledger != before.Ledger {
		t.Errorf("after an end that gave up: session %s, ledger %+v; want running, %+v", env.get(t, "s1").Status, after.Ledger, before.Ledger)
	}
}
