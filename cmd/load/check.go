package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// eventView is the part of a session event the check reads.
type eventView struct {
	Type  string    `json:"type"`
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
}

// maxExpiryWait bounds how long check waits for the sweeps to expire the abandoned sessions.
const maxExpiryWait = 2 * time.Minute

// awaitExpiries waits, with the in-process stack, until its sweeps reported as many keepalive
// expiries as there are abandoned sessions, or until a sweep that started after every
// abandoned session was due has finished (a sweep under load may take far longer than its
// period, so a fixed wait is not enough): the sweep line in progress now ends, and the one
// after it started later. Sweeps that do nothing log no line, so the expiry count ends the
// wait in the common case; maxExpiryWait bounds it.
func (r *runner) awaitExpiries(ctx context.Context) {
	abandoned := int64(0)
	for _, s := range r.sessions {
		if s.cohort == abandoner {
			abandoned++
		}
	}
	start := r.server.sweeps.Load()
	deadline := time.Now().Add(maxExpiryWait)
	for r.server.expired.Load() < abandoned && r.server.sweeps.Load() < start+2 && time.Now().Before(deadline) {
		if !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
			return
		}
	}
}

// expiryLag records how long after its expiry each abandoned session was expired.
type expiryLag struct {
	mu   sync.Mutex
	lags []time.Duration
}

// check waits until every abandoned session is past its expiry and a sweep period more, then
// compares each session with what its history says it must be, and each user's
// active_sessions with their sessions that are not deleted. It returns the inconsistencies.
func (r *runner) check(ctx context.Context) []string {
	var latest time.Time
	for _, s := range r.sessions {
		if s.cohort == abandoner {
			latest = later(latest, s.lastKeepalive.Add(r.cfg.Expiration))
		}
	}
	sleepUntil(ctx, latest.Add(2*r.cfg.SweepEvery))
	if r.server != nil {
		r.awaitExpiries(ctx)
	}
	if r.cfg.URL != "" {
		// With -url the load's own sweeps stopped with the run: one more catches the stragglers.
		_, _ = r.cl.do(ctx, call{phase: phaseCheck, route: "POST /v1/sweeps", method: "POST", path: "/v1/sweeps", want: []int{200}})
	}
	var (
		mu   sync.Mutex
		bad  []string
		live = map[string]int64{}
	)
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		bad = append(bad, fmt.Sprintf(format, args...))
	}
	lag := &expiryLag{}
	_ = r.parallel(ctx, len(r.sessions), func(ctx context.Context, i int) error {
		s := r.sessions[i]
		var sess struct {
			Status    string    `json:"status"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		var evs struct {
			Events []eventView `json:"events"`
		}
		if _, err := r.cl.do(ctx, call{phase: phaseCheck, route: "GET /v1/sessions/{id}", method: "GET",
			path: "/v1/sessions/" + s.id, want: []int{200}, out: &sess}); err != nil {
			report("session %s: %v", s.id, err)
			return nil
		}
		if _, err := r.cl.do(ctx, call{phase: phaseCheck, route: "GET /v1/sessions/{id}/events", method: "GET",
			path: "/v1/sessions/" + s.id + "/events", want: []int{200}, out: &evs}); err != nil {
			report("session %s: %v", s.id, err)
			return nil
		}
		if sess.Status != "deleted" {
			mu.Lock()
			live[s.user]++
			mu.Unlock()
		}
		types := make([]string, len(evs.Events))
		for j, e := range evs.Events {
			types[j] = e.Type
		}
		wantStatus, wantTypes := "running", []string{"created"}
		s.mu.Lock()
		paused := s.paused
		s.mu.Unlock()
		switch {
		case s.cohort == abandoner:
			target := map[string]string{"stop": "stopped", "delete": "deleted"}[s.action]
			wantStatus, wantTypes = target, []string{"created", "keepalive_expired", target}
			if len(evs.Events) == 3 && evs.Events[1].Type == "keepalive_expired" {
				s.mu.Lock()
				due := s.lastKeepalive.Add(r.cfg.Expiration)
				s.mu.Unlock()
				lag.mu.Lock()
				lag.lags = append(lag.lags, evs.Events[1].At.Sub(due))
				lag.mu.Unlock()
			}
		case s.cohort == pauser && paused:
			wantTypes = []string{"created", "paused", "resumed"}
		}
		if sess.Status != wantStatus || !slices.Equal(types, wantTypes) {
			report("session %s (%s, action %s): %s with events %v, want %s with %v", s.id, s.cohort, s.action, sess.Status, types, wantStatus, wantTypes)
		}
		return nil
	})
	if r.db != nil {
		_ = r.parallel(ctx, len(r.users), func(ctx context.Context, i int) error {
			u := r.users[i]
			n, err := r.activeSessions(ctx, u.id)
			if err != nil {
				report("user %s: read active_sessions: %v", u.id, err)
				return nil
			}
			mu.Lock()
			want := live[u.id]
			mu.Unlock()
			if n != want {
				report("user %s: active_sessions %d, %d sessions not deleted", u.id, n, want)
			}
			return nil
		})
	}
	abandoned := 0
	for _, s := range r.sessions {
		if s.cohort == abandoner {
			abandoned++
		}
	}
	if r.server != nil {
		if got := r.server.expired.Load(); got != int64(abandoned) {
			bad = append(bad, fmt.Sprintf("the sweeps reported %d keepalive expiries, %d sessions were abandoned", got, abandoned))
		}
		if n := r.server.server5xx.Load(); n > 0 {
			bad = append(bad, fmt.Sprintf("the stack answered %d requests with a 5xx", n))
		}
		if n := r.server.sweepErrors.Load(); n > 0 {
			bad = append(bad, fmt.Sprintf("the sweeps reported %d errors (see %s)", n, r.cfg.ServerLog))
		}
	}
	r.lags = lag.lags
	slices.Sort(bad)
	return bad
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// activeSessions reads a user's active_sessions counter from the user item (USER#<id>/USER,
// as docs/design-sessions.md lays it out).
func (r *runner) activeSessions(ctx context.Context, userID string) (int64, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(r.table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "USER#" + userID},
			"SK": &ddbtypes.AttributeValueMemberS{Value: "USER"},
		},
	})
	if err != nil {
		return 0, err
	}
	n, ok := out.Item["active_sessions"].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	return strconv.ParseInt(n.Value, 10, 64)
}

// printSummary prints the cohorts, the sweeps, the expiry lag, the verdict and any
// inconsistency.
func (r *runner) printSummary(res result) {
	counts := map[cohort]int{}
	paused := 0
	for _, s := range r.sessions {
		counts[s.cohort]++
		if s.paused {
			paused++
		}
	}
	w := r.out
	fmt.Fprintf(w, "\nsessions: %d kept alive, %d abandoned (must be expired once), %d paused and resumed (of %d chosen)\n",
		counts[keeper], counts[abandoner], paused, counts[pauser])
	if r.server != nil {
		r.server.mu.Lock()
		runs := slices.Clone(r.server.sweepRuns)
		r.server.mu.Unlock()
		if len(runs) > 0 {
			slices.SortFunc(runs, func(a, b sweepRun) int { return int(a.d - b.d) })
			longest := runs[len(runs)-1]
			fmt.Fprintf(w, "sweeps: %d, p50 %s, p99 %s, max %s (the longest handled %d re-sync markers); %d keepalive expiries\n",
				len(runs), runs[len(runs)/2].d, runs[min(len(runs)-1, len(runs)*99/100)].d, longest.d, longest.markers, r.server.expired.Load())
		}
		fmt.Fprintf(w, "event log: %d session events published\n", r.server.events.Load())
	}
	if len(r.lags) > 0 {
		s := slices.Clone(r.lags)
		slices.Sort(s)
		fmt.Fprintf(w, "expiry lag (expired at − due at): p50 %s, max %s\n", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
	}
	if r.db == nil {
		fmt.Fprintln(w, "active_sessions: not checked (no -dynamodb and -table)")
	}
	fmt.Fprintf(w, "request errors: %d\n", res.requestErrors)
	if len(res.inconsistent) == 0 {
		fmt.Fprintln(w, "consistency: every session is in the state its history says; active_sessions match")
	} else {
		fmt.Fprintf(w, "consistency: %d problems\n", len(res.inconsistent))
		for i, p := range res.inconsistent {
			if i == 20 {
				fmt.Fprintf(w, "  … and %d more\n", len(res.inconsistent)-20)
				break
			}
			fmt.Fprintln(w, "  "+p)
		}
	}
	verdict := "PASS"
	if !res.ok() {
		verdict = "FAIL"
	}
	fmt.Fprintln(w, strings.Repeat("=", 20)+" "+verdict)
}
