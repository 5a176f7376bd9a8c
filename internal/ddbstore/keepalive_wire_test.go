package ddbstore_test

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/ddbwire"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

// wireStore is a session store on env's table whose keepalive goes through ddbwire, with the
// HTTP client edit returns (nil: the table client's own).
func wireStore(t *testing.T, env sessionEnv, edit func(httpDoer) httpDoer) *ddbstore.SessionStore {
	t.Helper()
	o := env.tb.Client.Options()
	if edit != nil {
		o.HTTPClient = edit(o.HTTPClient)
	}
	w, err := ddbwire.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return ddbstore.Open(env.tb.Client, env.tb.Name, ddbstore.WithKeepaliveWire(w)).Sessions()
}

type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// TestKeepaliveWireAnswersAsTheSDK runs the same keepalives on DynamoDB Local through the SDK
// and through ddbwire, each on a session of its own set up alike, and compares what they
// answer and what they leave stored: the request is accepted (shape, signature), and the
// answers (the returned attributes, the failed condition's old item) decode alike.
func TestKeepaliveWireAnswersAsTheSDK(t *testing.T) {
	env := newSessionEnv(t, "o0", "o1", "o2", "o3", "o4", "o5", "o6")
	wire := wireStore(t, env, nil)
	ctx := context.Background()
	limited := testLifetime()
	limited.TimeLimit = time.Hour
	type call struct {
		user string
		at   time.Duration
		idle time.Duration
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, id, owner string) // nil: no session; calls by "owner" are the owner's
		calls []call
	}{
		{"extend, first then known", func(t *testing.T, id, owner string) { env.start(t, id, owner, true, testLifetime(), st0) },
			[]call{{"", 10 * time.Second, 0}, {"owner", 20 * time.Second, 0}, {"owner", 55 * time.Second, 0}}},
		{"time-limited", func(t *testing.T, id, owner string) { env.start(t, id, owner, true, limited, st0) },
			[]call{{"owner", 10 * time.Second, 0}, {"owner", 20 * time.Second, 0}}},
		{"idle, then active", func(t *testing.T, id, owner string) { env.start(t, id, owner, true, testLifetime(), st0) },
			[]call{{"", 10 * time.Second, 10 * time.Minute}, {"", 20 * time.Second, 10 * time.Minute}, {"", 30 * time.Second, 0}}},
		{"another user's", func(t *testing.T, id, owner string) { env.start(t, id, owner, true, testLifetime(), st0) },
			[]call{{"u2", 10 * time.Second, 0}}},
		{"missing", nil, []call{{"", 10 * time.Second, 0}}},
		{"paused", func(t *testing.T, id, owner string) {
			env.start(t, id, owner, true, testLifetime(), st0)
			c, err := lifecycle.Act(env.get(t, id), lifecycle.OpPause, lifecycle.AdminActor(), lifecycle.Permissions{}, st0)
			if err != nil {
				t.Fatal(err)
			}
			if err := env.ss.Transition(ctx, c); err != nil {
				t.Fatal(err)
			}
		}, []call{{"", 10 * time.Second, 0}}},
		{"usage deadline", func(t *testing.T, id, owner string) {
			s, ev := lifecycle.NewSession(id, owner, "img", true, testLifetime(), st0)
			s.UsageDeadline = st0.Add(15 * time.Second)
			s.DueAt = lifecycle.NextDue(s)
			if err := ddbtest.StartSession(ctx, env.ss, s, ev); err != nil {
				t.Fatal(err)
			}
		}, []call{{"", 10 * time.Second, 0}, {"", 20 * time.Second, 0}}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids := map[string]*ddbstore.SessionStore{"sdk" + string(rune('a'+i)): env.ss, "wire" + string(rune('a'+i)): wire}
			results := map[string][]string{}
			for id, ss := range ids {
				owner := "o" + string(rune('0'+i))
				if tc.setup != nil {
					tc.setup(t, id, owner)
				}
				for _, c := range tc.calls {
					user := c.user
					if user == "owner" {
						user = owner
					}
					env.tb.ResetCalls()
					r, err := sessions.RunKeepalive(ctx, ss, id, user, st0.Add(c.at), c.idle)
					results[id] = append(results[id], describe(r, err))
					if ss == wire && env.tb.Calls() > 0 && policy.KindOf(err) == "" && !r.Disconnect {
						t.Errorf("%s: the SDK client sent %d requests for a keepalive through ddbwire", id, env.tb.Calls())
					}
				}
				if tc.setup != nil {
					s := env.get(t, id)
					results[id] = append(results[id], describe(lifecycle.KeepaliveResult{ExpiresAt: s.ExpiresAt, TimeLimitAt: s.TimeLimitAt, Disconnect: !s.Connected}, nil)+
						" stored last "+s.LastKeepaliveAt.Format(time.RFC3339)+" due "+s.DueAt.Format(time.RFC3339)+" status "+string(s.Status))
				}
			}
			sdk, w := results["sdk"+string(rune('a'+i))], results["wire"+string(rune('a'+i))]
			if len(sdk) != len(w) || len(w) == 0 {
				t.Fatalf("through the SDK %v; through ddbwire %v", sdk, w)
			}
			for j := range sdk {
				if sdk[j] != w[j] {
					t.Errorf("step %d: through the SDK %s; through ddbwire %s", j, sdk[j], w[j])
				}
			}
			t.Logf("%v", w)
		})
	}
}

func describe(r lifecycle.KeepaliveResult, err error) string {
	if err != nil {
		return "error " + string(policy.KindOf(err)) + " " + policy.CodeOf(err)
	}
	return "expires " + r.ExpiresAt.Format(time.RFC3339) + " limit " + r.TimeLimitAt.Format(time.RFC3339) +
		" interval " + r.KeepaliveInterval.String() + " disconnect " + boolString(r.Disconnect) + " usage_reached " + boolString(r.UsageReached)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// lossyDoer sends the first UpdateItem once armed, drops its answer, runs between() and fails
// as a timeout would: ddbwire sends the same request again (the SDK's retryer decides).
type lossyDoer struct {
	next    httpDoer
	armed   *atomic.Bool
	between func()
}

func (l lossyDoer) Do(r *http.Request) (*http.Response, error) {
	resp, err := l.next.Do(r)
	if err != nil || r.Header.Get("X-Amz-Target") != "DynamoDB_20120810.UpdateItem" || !l.armed.CompareAndSwap(true, false) {
		return resp, err
	}
	_ = resp.Body.Close()
	l.between()
	return nil, &url.Error{Op: "Post", URL: "lost", Err: lostTimeout{}}
}

// TestKeepaliveWireResentAfterLostAnswerAppliesOnce is TestKeepaliveResentAfterLostAnswerAppliesOnce
// through ddbwire: its retry resends the same token, which the condition refuses.
func TestKeepaliveWireResentAfterLostAnswerAppliesOnce(t *testing.T) {
	env := newSessionEnv(t, "u1")
	lt := testLifetime()
	env.start(t, "s_resent", "u1", true, lt, st0)
	now := st0.Add(20 * time.Second)
	armed := &atomic.Bool{}
	var idleErr error
	lossy := wireStore(t, env, func(next httpDoer) httpDoer {
		return lossyDoer{next: next, armed: armed, between: func() {
			_, idleErr = sessions.RunKeepalive(context.Background(), env.ss, "s_resent", "", now, lt.IdleDisconnect)
		}}
	})
	armed.Store(true)
	r, err := sessions.RunKeepalive(context.Background(), lossy, "s_resent", "u1", now, 0)
	if err != nil {
		t.Fatalf("keepalive: %v", err)
	}
	if armed.Load() {
		t.Fatal("the keepalive's UpdateItem never reached the HTTP client")
	}
	if idleErr != nil {
		t.Fatalf("idle keepalive in between: %v", idleErr)
	}
	if want := now.Add(lt.KeepaliveExpiration); !r.ExpiresAt.Equal(want) {
		t.Errorf("keepalive answered expiry %v, want %v", r.ExpiresAt, want)
	}
	if got := env.get(t, "s_resent"); got.Connected {
		t.Errorf("session connected after keepalive then idle disconnect: the resent keepalive was applied twice")
	}
}

// TestNewKeepaliveWire builds the client from the store's SDK client, as the api function does.
func TestNewKeepaliveWire(t *testing.T) {
	env := newSessionEnv(t, "u1")
	w, err := ddbstore.NewKeepaliveWire(context.Background(), env.tb.Client)
	if err != nil {
		t.Fatal(err)
	}
	ss := ddbstore.Open(env.tb.Client, env.tb.Name, ddbstore.WithKeepaliveWire(w)).Sessions()
	env.start(t, "s1", "u1", true, testLifetime(), st0)
	if _, err := sessions.RunKeepalive(context.Background(), ss, "s1", "u1", st0.Add(time.Second), 0); err != nil {
		t.Fatal(err)
	}
}
