package hardening

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"wspolicy/internal/faultinject"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/sessions"
	"wspolicy/internal/sweep"
)

// recorder collects a history of operations with their call and return times.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

// since is a timestamp for the history: nanoseconds on the monotonic clock.
func (r *recorder) since() int64 { return int64(time.Since(r.start)) }

func (r *recorder) add(client int, in sessInput, call, ret int64, out sessOutput) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

func (r *recorder) history() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}

// checkLinearizable checks a history against the session model. On failure it writes
// porcupine's visualization to a temporary HTML file and names it in the failure.
func checkLinearizable(t testing.TB, history []porcupine.Operation) {
	t.Helper()
	model := sessionModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, history, time.Minute)
	if res == porcupine.Ok {
		return
	}
	path := "(visualization not written)"
	if f, err := os.CreateTemp("", "porcupine-*.html"); err == nil {
		if err := porcupine.Visualize(model, info, f); err == nil {
			path = f.Name()
		}
		_ = f.Close()
	}
	t.Errorf("history of %d operations is %s against the session model; visualization: %s", len(history), res, path)
	fmt.Fprintf(os.Stderr, "porcupine visualization: %s\n", path)
}

// linSession is a session the linearizability run drives, with the user key it acts with.
type linSession struct {
	id        string
	userKey   string
	container bool
	action    string
	gone      atomic.Bool // seen deleted: the run may replace it
}

// linRun drives concurrent keepalives, sweeps, user actions and reads on a few shared
// sessions through the API, in rounds: the clock stands still during a round (every operation
// of the round runs at the same time T, which the history records) and moves on between rounds
// by an amount drawn around keepalive_expiration, so sessions expire while others keep them
// alive.
type linRun struct {
	s        *stack
	rec      *recorder
	rng      *rand.Rand
	kaMs     int64
	users    map[string]string // action → user id
	keys     map[string]string // user id → key
	sessions []*linSession
	faulty   bool
	// sweepActions counts, per session, the expiries sweeps reported.
	mu           sync.Mutex
	sweepActions map[string]int
}

const linKeepaliveExpiration = 60 // seconds

// newLinRun makes one group per expiry action (keepalive_expiration 60 s), a user in each
// with a key, and sessions: a container session per action and a non-container one.
func newLinRun(s *stack, seed uint64, perAction int) *linRun {
	r := &linRun{s: s, rec: newRecorder(), rng: rand.New(rand.NewPCG(seed, 1)), kaMs: linKeepaliveExpiration * 1000,
		users: map[string]string{}, keys: map[string]string{}, sweepActions: map[string]int{}}
	for i, action := range []string{"stop", "pause", "delete"} {
		g := s.createGroup("lin-"+action, 10+i, map[string]any{"keepalive_expiration": linKeepaliveExpiration, "keepalive_expiration_action": action})
		u := s.createUser("lin-user-"+action, g)
		var k struct {
			Secret string `json:"secret"`
		}
		s.must(http.StatusCreated, "POST", "/v1/users/"+u+"/keys", map[string]any{"role": "user"}, &k)
		r.users[action], r.keys[u] = u, k.Secret
	}
	for range perAction {
		for _, action := range []string{"stop", "pause", "delete"} {
			r.start(0, action, true)
		}
	}
	r.start(0, "stop", false)
	return r
}

// start starts a session (recording the start) and adds it to the run; a start that fails
// (under faults) adds nothing.
func (r *linRun) start(client int, action string, container bool) {
	u := r.users[action]
	now := r.s.clock.Now().UnixMilli()
	call := r.rec.since()
	res := r.s.call("POST", "/v1/sessions", map[string]any{"user_id": u, "image_id": "img", "container": container}, asKey(r.keys[u]))
	ret := r.rec.since()
	if res.Status != http.StatusCreated {
		r.allowed(res)
		return
	}
	var sess sessions.Session
	res.decode(r.s.t, &sess)
	r.rec.add(client, sessInput{Session: sess.SessionID, Op: opStart, Now: now, Container: container, Action: action, KaMs: r.kaMs},
		call, ret, sessionOutput(http.StatusCreated, sess))
	r.sessions = append(r.sessions, &linSession{id: sess.SessionID, userKey: r.keys[u], container: container, action: action})
}

// allowed fails the test on an answer no operation of the run may give: a 5xx other than 503
// with Retry-After, and a 503 without faults.
func (r *linRun) allowed(res response) {
	switch {
	case res.Status < 500:
	case res.unavailable() && r.faulty:
	default:
		r.s.t.Errorf("%s: not an answer this operation may give", res)
	}
}

func sessionOutput(code int, sess sessions.Session) sessOutput {
	return sessOutput{Code: code, Status: sess.Status, ExpiresMs: sess.ExpiresAt.UnixMilli(), Connected: sess.Connected}
}

// do runs one operation on a session and records it.
func (r *linRun) do(client int, ls *linSession, op opKind) {
	now := r.s.clock.Now().UnixMilli()
	path := "/v1/sessions/" + ls.id
	var res response
	call := r.rec.since()
	switch op {
	case opKeepalive:
		res = r.s.call("POST", path+"/keepalive", nil, asKey(ls.userKey))
	case opIdle:
		res = r.s.call("POST", path+"/keepalive", map[string]any{"idle_seconds": 1e6}, asKey(ls.userKey))
	case opGet:
		res = r.s.call("GET", path, nil)
	case opPause, opStop, opResume:
		res = r.s.call("POST", path+"/"+string(op), nil, asKey(ls.userKey))
	case opDelete:
		res = r.s.call("DELETE", path, nil, asKey(ls.userKey))
	}
	ret := r.rec.since()
	r.allowed(res)
	out := sessOutput{Code: res.Status}
	if res.Status == http.StatusOK {
		if op == opKeepalive || op == opIdle {
			var k sessions.KeepaliveResponse
			res.decode(r.s.t, &k)
			out.ExpiresMs, out.Disconnect = k.ExpiresAt.UnixMilli(), k.Disconnect
		} else {
			var sess sessions.Session
			res.decode(r.s.t, &sess)
			out = sessionOutput(http.StatusOK, sess)
			if sess.Status == string(lifecycle.StatusDeleted) {
				ls.gone.Store(true)
			}
		}
	}
	if res.Status == http.StatusGone {
		ls.gone.Store(true)
	}
	r.rec.add(client, sessInput{Session: ls.id, Op: op, Now: now}, call, ret, out)
}

// sweepOnce runs a sweep through the API and records, for every session of the run, what the
// sweep reported doing to it.
func (r *linRun) sweepOnce(client int, targets []*linSession) {
	now := r.s.clock.Now().UnixMilli()
	call := r.rec.since()
	res := r.s.call("POST", "/v1/sweeps", nil)
	ret := r.rec.since()
	r.allowed(res)
	var rep sweep.Report
	unsure := r.faulty // under faults an SDK retry can hide a write the sweep did
	if res.Status == http.StatusOK {
		res.decode(r.s.t, &rep)
		unsure = unsure || len(rep.Errors) > 0
	} else {
		unsure = true
	}
	acted := map[string]string{}
	for _, a := range rep.Actions {
		acted[a.SessionID] = a.Action
	}
	for _, ls := range targets {
		out := sessOutput{Code: res.Status, Sweep: acted[ls.id], SweepUnsure: unsure}
		if out.Sweep == "delete" || out.Sweep == "stop" || out.Sweep == "pause" {
			r.mu.Lock()
			r.sweepActions[ls.id]++
			r.mu.Unlock()
		}
		r.rec.add(client, sessInput{Session: ls.id, Op: opSweep, Now: now}, call, ret, out)
	}
}

// opWeights is how often each operation is drawn.
var opWeights = []struct {
	op opKind
	w  int
}{
	{opKeepalive, 30}, {opIdle, 4}, {opGet, 14}, {opPause, 8}, {opStop, 8}, {opResume, 14}, {opDelete, 2},
}

func (r *linRun) drawOp() opKind {
	total := 0
	for _, w := range opWeights {
		total += w.w
	}
	n := r.rng.IntN(total)
	for _, w := range opWeights {
		if n < w.w {
			return w.op
		}
		n -= w.w
	}
	return opGet
}

// round runs one round: every live session gets 0 to 2 operations, and 1 or 2 sweeps run,
// all at once.
func (r *linRun) round() {
	var jobs []func(client int)
	for _, ls := range r.sessions {
		if ls.gone.Load() {
			continue
		}
		for range r.rng.IntN(3) {
			op := r.drawOp()
			jobs = append(jobs, func(client int) { r.do(client, ls, op) })
		}
	}
	targets := append([]*linSession(nil), r.sessions...)
	for range 1 + r.rng.IntN(2) {
		jobs = append(jobs, func(client int) { r.sweepOnce(client, targets) })
	}
	r.rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, job := range jobs {
		wg.Go(func() {
			<-gate
			job(i)
		})
	}
	close(gate)
	wg.Wait()
	// Replace half of the sessions seen deleted, so that the run keeps a few live ones (the
	// old one stays in the history, untouched from now on).
	var keep, replace []*linSession
	for _, ls := range r.sessions {
		if ls.gone.Load() && r.rng.IntN(2) == 0 {
			replace = append(replace, ls)
			continue
		}
		keep = append(keep, ls)
	}
	r.sessions = keep
	for _, ls := range replace {
		r.start(0, ls.action, ls.container)
	}
	// Move the clock: mostly less than the expiration, sometimes past it.
	steps := []time.Duration{0, 10 * time.Second, 25 * time.Second, 40 * time.Second, 61 * time.Second, 90 * time.Second}
	r.s.clock.Advance(steps[r.rng.IntN(len(steps))])
}

// summarize counts a history's operations by kind and answer, for the test log.
func summarize(history []porcupine.Operation) string {
	counts := map[string]int{}
	for _, op := range history {
		in, out := op.Input.(sessInput), op.Output.(sessOutput)
		k := fmt.Sprintf("%s:%d", in.Op, out.Code)
		if in.Op == opSweep {
			k = "sweep:" + out.Sweep
			if out.Sweep == "" {
				k = "sweep:none"
			}
		}
		counts[k]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, counts[k])
	}
	return strings.TrimSpace(b.String())
}

// TestLinearizableSessions records concurrent keepalives, idle keepalives, sweeps (two may
// overlap), pause/stop/resume/delete and reads on shared sessions through the API on DynamoDB
// Local, and checks the history against the session model; afterwards every session's events
// and its owner's active_sessions must agree, and each expiry a sweep reported must be
// recorded by exactly one keepalive_expired event.
func TestLinearizableSessions(t *testing.T) {
	s := newStack(t, stackOptions{})
	r := newLinRun(s, 1, 2)
	for range 30 * scale(t) {
		r.round()
	}
	history := r.rec.history()
	t.Logf("%d operations: %s", len(history), summarize(history))
	checkLinearizable(t, history)
	users := make([]string, 0, len(r.users))
	for _, u := range r.users {
		users = append(users, u)
	}
	s.checkSessions(users...)
	seen := map[string]bool{}
	for _, op := range history {
		id := op.Input.(sessInput).Session
		if seen[id] {
			continue
		}
		seen[id] = true
		if got, want := s.expiryEvents(id), r.sweepActions[id]; got != want {
			t.Errorf("session %s: %d keepalive_expired events, sweeps reported %d expiries", id, got, want)
		}
	}
}

// TestLinearizableSessionsUnderFaults is the same run with a tenth of the DynamoDB attempts
// failing (throttling, 5xx, timeouts — half of them after the write happened). A 503 may or
// may not have taken effect, and the model allows both; everything else must still be
// linearizable, and the end state consistent.
func TestLinearizableSessionsUnderFaults(t *testing.T) {
	s := newStack(t, stackOptions{faults: faultinject.Config{Seed: 11, Default: faultinject.Rule{
		Rate: 0.1, AfterSend: 0.5, Delay: 2 * time.Millisecond,
	}}})
	r := newLinRun(s, 2, 2)
	r.faulty = true
	s.faults.SetEnabled(true)
	for range 25 * scale(t) {
		r.round()
	}
	s.faults.SetEnabled(false)
	history := r.rec.history()
	t.Logf("%d operations: %s; faults injected:\n%s", len(history), summarize(history), s.faults.Stats())
	if s.faults.Stats().Total("") == 0 {
		t.Fatal("no fault was injected")
	}
	checkLinearizable(t, history)
	users := make([]string, 0, len(r.users))
	for _, u := range r.users {
		users = append(users, u)
	}
	s.checkSessions(users...)
}

// TestModelRejectsNonLinearizableHistories feeds hand-made histories to the checker: the
// model must reject the ones a real bug would produce (a sweep that expires a session a
// keepalive had just extended, an expiry applied twice) and accept their correct variants.
func TestModelRejectsNonLinearizableHistories(t *testing.T) {
	t0 := epoch.UnixMilli()
	const ka = 60_000
	start := func(id string, action string) porcupine.Operation {
		return porcupine.Operation{Input: sessInput{Session: id, Op: opStart, Now: t0, Container: true, Action: action, KaMs: ka},
			Call: 0, Return: 1, Output: sessOutput{Code: 201, Status: "running", ExpiresMs: t0 + ka, Connected: true}}
	}
	op := func(client int, o opKind, now int64, call, ret int64, out sessOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: sessInput{Session: "s", Op: o, Now: now}, Call: call, Return: ret, Output: out}
	}
	late := t0 + 70_000 // past the first expiry
	kaOK := sessOutput{Code: 200, ExpiresMs: late + ka}
	stopped := sessOutput{Sweep: "stop"}
	tests := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"sweep after a keepalive returned cannot expire the session", []porcupine.Operation{
			start("s", "stop"),
			op(0, opKeepalive, late, 10, 20, kaOK),
			op(1, opSweep, late, 30, 40, stopped),
		}, porcupine.Illegal},
		{"sweep before the keepalive: the keepalive finds it stopped", []porcupine.Operation{
			start("s", "stop"),
			op(1, opSweep, late, 10, 20, stopped),
			op(0, opKeepalive, late, 30, 40, sessOutput{Code: 409}),
		}, porcupine.Ok},
		{"keepalive and sweep overlap: both cannot win", []porcupine.Operation{
			start("s", "stop"),
			op(0, opKeepalive, late, 10, 40, kaOK),
			op(1, opSweep, late, 15, 30, stopped),
		}, porcupine.Illegal},
		{"keepalive and sweep overlap: the sweep won, the keepalive lost", []porcupine.Operation{
			start("s", "stop"),
			op(0, opKeepalive, late, 10, 40, sessOutput{Code: 409}),
			op(1, opSweep, late, 15, 30, stopped),
		}, porcupine.Ok},
		{"keepalive and sweep overlap: the keepalive won, the sweep did nothing", []porcupine.Operation{
			start("s", "stop"),
			op(0, opKeepalive, late, 10, 40, kaOK),
			op(1, opSweep, late, 15, 30, sessOutput{}),
			op(0, opGet, late, 50, 60, sessOutput{Code: 200, Status: "running", ExpiresMs: late + ka, Connected: true}),
		}, porcupine.Ok},
		{"an expiry applied twice", []porcupine.Operation{
			start("s", "stop"),
			op(1, opSweep, late, 10, 20, stopped),
			op(2, opSweep, late, 30, 40, stopped),
		}, porcupine.Illegal},
		{"an expiry before its time", []porcupine.Operation{
			start("s", "stop"),
			op(1, opSweep, t0+30_000, 10, 20, stopped),
		}, porcupine.Illegal},
		{"expired again after a resume and a second expiry time", []porcupine.Operation{
			start("s", "stop"),
			op(1, opSweep, late, 10, 20, stopped),
			op(0, opResume, late, 30, 40, sessOutput{Code: 200, Status: "running", ExpiresMs: late + ka, Connected: true}),
			op(1, opSweep, late+ka, 50, 60, stopped),
		}, porcupine.Ok},
		{"a keepalive answered 503 may have extended the session", []porcupine.Operation{
			start("s", "stop"),
			op(0, opKeepalive, t0+50_000, 10, 20, sessOutput{Code: 503}),
			op(1, opSweep, late, 30, 40, sessOutput{}),
			op(0, opGet, late, 50, 60, sessOutput{Code: 200, Status: "running", ExpiresMs: t0 + 50_000 + ka, Connected: true}),
		}, porcupine.Ok},
		{"a read shows an expiry nobody reported", []porcupine.Operation{
			start("s", "stop"),
			op(1, opSweep, late, 10, 20, sessOutput{}),
			op(0, opGet, late, 30, 40, sessOutput{Code: 200, Status: "stopped", ExpiresMs: t0 + ka}),
		}, porcupine.Illegal},
		{"pausing a stopped session is a conflict", []porcupine.Operation{
			start("s", "stop"),
			op(0, opStop, t0, 10, 20, sessOutput{Code: 200, Status: "stopped", ExpiresMs: t0 + ka}),
			op(0, opPause, t0, 30, 40, sessOutput{Code: 409}),
		}, porcupine.Ok},
		{"an idle keepalive does not extend", []porcupine.Operation{
			start("s", "delete"),
			op(0, opIdle, late-20_000, 10, 20, sessOutput{Code: 200, ExpiresMs: late + ka - 20_000, Disconnect: true}),
		}, porcupine.Illegal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, info := porcupine.CheckOperationsVerbose(sessionModel.ToModel(), tc.ops, 10*time.Second)
			if res != tc.want {
				t.Errorf("got %s, want %s", res, tc.want)
			}
			if res == porcupine.Illegal {
				// The visualization of a rejected history is what a failing run leaves behind.
				path := t.TempDir() + "/history.html"
				if err := porcupine.VisualizePath(sessionModel.ToModel(), info, path); err != nil {
					t.Errorf("visualize: %v", err)
				} else if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
					t.Errorf("visualization %s is empty: %v", path, err)
				}
			}
		})
	}
}

// TestModelCatchesStaleSweep runs a real bug against the real store and checks that the model
// catches it: a sweep that decides on a stale read of the session but writes with the guard of
// a fresh one (so the keepalive that landed in between does not stop it) expires a session
// that had just been kept alive. The history is recorded as the linearizability runs record
// theirs; porcupine must reject it.
func TestModelCatchesStaleSweep(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := context.Background()
	g := s.createGroup("stale-stop", 10, map[string]any{"keepalive_expiration": linKeepaliveExpiration, "keepalive_expiration_action": "stop"})
	u := s.createUser("stale-user", g)
	rec := newRecorder()
	now := s.clock.Now().UnixMilli()
	call := rec.since()
	sess := s.startSession(u, true)
	rec.add(0, sessInput{Session: sess.SessionID, Op: opStart, Now: now, Container: true, Action: "stop", KaMs: linKeepaliveExpiration * 1000},
		call, rec.since(), sessionOutput(201, sess))

	s.clock.Advance(70 * time.Second)
	now = s.clock.Now().UnixMilli()
	sweepCall := rec.since()
	stale, err := s.sessions.GetSession(ctx, sess.SessionID) // the buggy sweep reads
	if err != nil {
		t.Fatal(err)
	}
	call = rec.since()
	res := s.must(http.StatusOK, "POST", "/v1/sessions/"+sess.SessionID+"/keepalive", nil, nil) // a keepalive lands
	var k sessions.KeepaliveResponse
	res.decode(t, &k)
	rec.add(0, sessInput{Session: sess.SessionID, Op: opKeepalive, Now: now}, call, rec.since(), sessOutput{Code: 200, ExpiresMs: k.ExpiresAt.UnixMilli()})
	fresh, err := s.sessions.GetSession(ctx, sess.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	c := lifecycle.Decide(stale, s.clock.Now())
	c.Before = fresh // the bug: guard on what is there now, decision on what was read before
	if err := s.sessions.Transition(ctx, c); err != nil {
		t.Fatalf("buggy sweep write: %v", err)
	}
	rec.add(1, sessInput{Session: sess.SessionID, Op: opSweep, Now: now}, sweepCall, rec.since(), sessOutput{Sweep: string(c.Outcome)})

	call = rec.since()
	var got sessions.Session
	s.must(http.StatusOK, "GET", "/v1/sessions/"+sess.SessionID, nil, &got)
	rec.add(0, sessInput{Session: sess.SessionID, Op: opGet, Now: now}, call, rec.since(), sessionOutput(200, got))

	if res := porcupine.CheckOperations(sessionModel.ToModel(), rec.history()); res {
		t.Fatalf("porcupine accepted the history of a sweep that overrode a keepalive:\n%v", rec.history())
	}
}
