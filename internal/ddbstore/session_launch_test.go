package ddbstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/tabledef"
)

// startWithDocs starts session id of user with client settings and a launch configuration.
func (env sessionEnv) startWithDocs(t *testing.T, id, user string, cs, l string) lifecycle.Session {
	t.Helper()
	s, ev := lifecycle.NewSession(id, user, "img", true, testLifetime(), st0)
	s.ClientSettings, s.Launch = []byte(cs), []byte(l)
	if err := ddbtest.StartSession(context.Background(), env.ss, s, ev); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return s
}

// TestGetSessionReadsLaunchItem checks that GetSession returns the session with its client
// settings and launch configuration from the launch item, in one request.
func TestGetSessionReadsLaunchItem(t *testing.T) {
	env := newSessionEnv(t, "u1")
	ctx := context.Background()
	env.startWithDocs(t, "docs", "u1", `{"allow_kasm_audio":true}`, `{"image_id":"img","volume_mappings":[]}`)
	env.start(t, "bare", "u1", true, testLifetime(), st0)
	tests := []struct {
		name     string
		id       string
		wantCS   string
		wantL    string
		wantErr  string
		requests int64
	}{
		{name: "with documents", id: "docs", wantCS: `{"allow_kasm_audio":true}`, wantL: `{"image_id":"img","volume_mappings":[]}`, requests: 1},
		{name: "started without documents", id: "bare", requests: 1},
		{name: "missing", id: "nope", wantErr: policy.CodeSessionNotFound, requests: 1},
		{name: "an id that cannot exist", id: "a#b", wantErr: policy.CodeSessionNotFound, requests: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.tb.ResetCalls()
			s, err := env.ss.GetSession(ctx, tt.id)
			if got := env.tb.Calls(); got != tt.requests {
				t.Errorf("requests: got %d, want %d", got, tt.requests)
			}
			if tt.wantErr != "" {
				wantCode(t, err, policy.KindNotFound, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.ID != tt.id || s.Status != lifecycle.StatusRunning || string(s.ClientSettings) != tt.wantCS || string(s.Launch) != tt.wantL {
				t.Errorf("got %s (%s) client_settings %q launch %q; want %s running with %q and %q",
					s.ID, s.Status, s.ClientSettings, s.Launch, tt.id, tt.wantCS, tt.wantL)
			}
		})
	}
}

// TestListingsCarryNoDocuments checks that the index reads (a user's sessions, the due index)
// and the administrator's scan return sessions without their documents, and never a launch
// item as a session of its own.
func TestListingsCarryNoDocuments(t *testing.T) {
	env := newSessionEnv(t, "u1")
	ctx := context.Background()
	env.startWithDocs(t, "s1", "u1", `{"a":1}`, `{"image_id":"img"}`)
	env.startWithDocs(t, "s2", "u1", `{"a":2}`, `{"image_id":"img"}`)
	due := func() (lifecycle.Page, error) {
		var all lifecycle.Page
		for shard := range tabledef.DueShards {
			p, err := env.ss.DueSessions(ctx, st0.Add(time.Hour), shard, "")
			if err != nil {
				return lifecycle.Page{}, err
			}
			all.Sessions = append(all.Sessions, p.Sessions...)
		}
		return all, nil
	}
	tests := []struct {
		name string
		list func() (lifecycle.Page, error)
	}{
		{name: "a user's sessions (GSI1)", list: func() (lifecycle.Page, error) {
			return env.ss.ListSessions(ctx, lifecycle.ListFilter{UserID: "u1"})
		}},
		{name: "every session (scan)", list: func() (lifecycle.Page, error) {
			return env.ss.ListSessions(ctx, lifecycle.ListFilter{Limit: 100})
		}},
		{name: "due sessions (Due index)", list: due},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.list()
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, s := range p.Sessions {
				ids = append(ids, s.ID)
				if s.ClientSettings != nil || s.Launch != nil {
					t.Errorf("session %s: got client_settings %q launch %q, want none in a listing", s.ID, s.ClientSettings, s.Launch)
				}
			}
			sortStrings(ids)
			if !equalStrings(ids, []string{"s1", "s2"}) {
				t.Errorf("listed %v, want [s1 s2]", ids)
			}
		})
	}
}

// ttlOfItem is an item's TTL attribute, 0 when it has none.
func ttlOfItem(item map[string]ddbtypes.AttributeValue) int64 {
	v, ok := item[tabledef.TTLAttribute].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(v.Value, 10, 64)
	return n
}

// TestLaunchItemExpiresWithSession checks that deleting a session gives its launch item the
// session's TTL in the same transaction, whether the deletion read the session with its
// documents (an action) or from the Due index (a sweep), and that a deleted session still
// reads with its documents until TTL removes both.
func TestLaunchItemExpiresWithSession(t *testing.T) {
	tests := []struct {
		name string
		read func(env sessionEnv) lifecycle.Session // how the deleter saw the session
		docs bool                                   // started with documents
		seed bool                                   // seeded (no launch item) instead of started
	}{
		{name: "an action (GetSession)", docs: true, read: func(env sessionEnv) lifecycle.Session {
			s, _ := env.ss.GetSession(context.Background(), "s1")
			return s
		}},
		{name: "a sweep (Due index, no documents in hand)", docs: true, read: func(env sessionEnv) lifecycle.Session {
			for shard := range tabledef.DueShards {
				p, _ := env.ss.DueSessions(context.Background(), st0.Add(time.Hour), shard, "")
				if len(p.Sessions) == 1 {
					return p.Sessions[0]
				}
			}
			return lifecycle.Session{}
		}},
		{name: "a seeded session without a launch item: a TTL stub", seed: true, read: func(env sessionEnv) lifecycle.Session {
			s, _ := env.ss.GetSession(context.Background(), "s1")
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newSessionEnv(t, "u1")
			ctx := context.Background()
			switch {
			case tt.seed:
				s, _ := lifecycle.NewSession("s1", "u1", "img", true, testLifetime(), st0)
				if err := env.seed().Sessions(ctx, []lifecycle.Session{s}, 1); err != nil {
					t.Fatal(err)
				}
			case tt.docs:
				env.startWithDocs(t, "s1", "u1", `{"a":1}`, `{"image_id":"img"}`)
			}
			s := tt.read(env)
			if s.ID != "s1" {
				t.Fatalf("the deleter read %+v, want s1", s)
			}
			at := st0.Add(2 * time.Minute)
			c, err := lifecycle.Act(s, lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, at)
			if err != nil {
				t.Fatal(err)
			}
			if err := env.ss.Transition(ctx, c); err != nil {
				t.Fatalf("delete: %v", err)
			}
			sessionTTL := ttlOfItem(rawItem(t, env, "SESSION#s1", "SESSION"))
			launchItem := rawItem(t, env, "SESSION#s1", "SESSION#LAUNCH")
			if want := at.Add(lifecycle.FinishedRetention).Unix(); sessionTTL != want || ttlOfItem(launchItem) != want {
				t.Errorf("TTL: session %d, launch item %d; want both %d", sessionTTL, ttlOfItem(launchItem), want)
			}
			got := env.get(t, "s1")
			wantCS := ""
			if tt.docs {
				wantCS = `{"a":1}`
			}
			if got.Status != lifecycle.StatusDeleted || string(got.ClientSettings) != wantCS {
				t.Errorf("deleted session: got %s with client_settings %q, want deleted with %q", got.Status, got.ClientSettings, wantCS)
			}
		})
	}
}

// TestDecodeRemovedLaunchItem checks that a launch item removed by TTL is told apart from its
// session (the finaliser must ignore it).
func TestDecodeRemovedLaunchItem(t *testing.T) {
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	tests := []struct {
		name string
		item map[string]ddbtypes.AttributeValue
		want ddbstore.RemovedKind
	}{
		{name: "launch item", want: ddbstore.RemovedLaunch,
			item: map[string]ddbtypes.AttributeValue{"PK": s("SESSION#s1"), "SK": s("SESSION#LAUNCH"), "client_settings": s(`{}`), "launch": s(`{}`)}},
		{name: "TTL stub of a session that had no launch item", want: ddbstore.RemovedLaunch,
			item: map[string]ddbtypes.AttributeValue{"PK": s("SESSION#s1"), "SK": s("SESSION#LAUNCH"), "TTL": &ddbtypes.AttributeValueMemberN{Value: "1"}}},
		{name: "event", want: ddbstore.RemovedEvent,
			item: map[string]ddbtypes.AttributeValue{"PK": s("SESSION#s1"), "SK": s("EVENT#00000001")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ddbstore.DecodeRemoved(tt.item)
			if err != nil || got.Kind != tt.want {
				t.Errorf("got %q, %v; want %q", got.Kind, err, tt.want)
			}
		})
	}
}
