package hardening

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wspolicy/internal/faultinject"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/tabledef"
)

// faultyRule is the fault mix of the fault tests: a fifth of the attempts fail — throttling,
// 5xx and timeouts, a third of the timeouts after DynamoDB did the work.
var faultyRule = faultinject.Rule{Rate: 0.2, AfterSend: 0.3, Delay: 2 * time.Millisecond}

// tally counts the answers of a run by route and status.
type tally struct {
	mu     sync.Mutex
	counts map[string]int
}

func (t *tally) add(route string, status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts == nil {
		t.counts = map[string]int{}
	}
	t.counts[fmt.Sprintf("%s %d", route, status)]++
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(t.counts)) {
		b = fmt.Appendf(b, "  %-50s %d\n", k, t.counts[k])
	}
	return string(b)
}

func (t *tally) total(status int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, suffix := 0, fmt.Sprintf(" %d", status)
	for k, c := range t.counts {
		if strings.HasSuffix(k, suffix) {
			n += c
		}
	}
	return n
}

// tri is a fact the worker knows, does not hold, or cannot know after an answer of 503.
type tri int

const (
	no tri = iota
	yes
	unknown
)

// faultWorker drives the API under faults on resources of its own (so that other workers
// never change what it expects) and judges every answer: the one success the operation has,
// the errors the worker's knowledge allows, or 503 with Retry-After. Anything else fails.
type faultWorker struct {
	s       *stack
	t       *testing.T
	rng     *rand.Rand
	tally   *tally
	name    string
	groups  []string
	users   []string
	keys    map[string]string           // user → key
	member  map[[2]string]tri           // (group, user) → member?
	status  map[string]lifecycle.Status // session → status, "" when unknown
	owner   map[string]string           // session → user
	created []string                    // groups and users created during the run
}

// judge checks an answer against the statuses the operation may give besides 503.
func (w *faultWorker) judge(route string, r response, ok ...int) bool {
	w.tally.add(route, r.Status)
	if r.unavailable() {
		if r.errorCode() == "" {
			w.t.Errorf("%s: a 503 without an error code", r)
		}
		return false
	}
	if !slices.Contains(ok, r.Status) {
		w.t.Errorf("%s: under faults this may only answer %v or 503 with Retry-After", r, ok)
	}
	return true
}

// sessionOK is what an action on a session may answer, given what the worker knows of it.
func sessionOK(st lifecycle.Status, op opKind) []int {
	switch st {
	case "":
		return []int{200, 409, 410}
	case lifecycle.StatusDeleted:
		return []int{410}
	}
	if op == opKeepalive {
		if st == lifecycle.StatusRunning {
			return []int{200}
		}
		return []int{409}
	}
	if op == opPause && st == lifecycle.StatusStopped {
		return []int{409}
	}
	return []int{200}
}

var sessionTargets = map[opKind]lifecycle.Status{
	opPause: lifecycle.StatusPaused, opStop: lifecycle.StatusStopped, opResume: lifecycle.StatusRunning, opDelete: lifecycle.StatusDeleted,
}

// step runs one random operation.
func (w *faultWorker) step(i int) {
	g := w.groups[w.rng.IntN(len(w.groups))]
	u := w.users[w.rng.IntN(len(w.users))]
	var sess string
	if ids := slices.Sorted(maps.Keys(w.status)); len(ids) > 0 {
		sess = ids[w.rng.IntN(len(ids))]
	}
	switch n := w.rng.IntN(20); {
	case n == 0:
		r := w.s.call("POST", "/v1/groups", map[string]any{"name": fmt.Sprintf("%s-g%d", w.name, i)})
		if w.judge("POST /v1/groups", r, 201) {
			var grp policy.Group
			r.decode(w.t, &grp)
			w.created = append(w.created, grp.ID)
		}
	case n == 1:
		r := w.s.call("POST", "/v1/users", map[string]any{"username": fmt.Sprintf("%s-u%d", w.name, i)})
		w.judge("POST /v1/users", r, 201)
	case n == 2:
		r := w.s.call("PATCH", "/v1/groups/"+g+"/settings", map[string]any{"set": map[string]any{"keepalive_interval": 30 + w.rng.IntN(100), "allow_kasm_audio": w.rng.IntN(2) == 0}})
		w.judge("PATCH settings", r, 200)
	case n == 3:
		// If-Match with the version just read: nobody else writes this group, so the only
		// answer besides 503 is 200 (a retried write must not turn into 412).
		r := w.s.call("GET", "/v1/groups/"+g+"/settings", nil)
		if !w.judge("GET settings", r, 200) {
			return
		}
		var v struct {
			Version int64 `json:"version"`
		}
		r.decode(w.t, &v)
		r = w.s.call("PATCH", "/v1/groups/"+g+"/settings", map[string]any{"set": map[string]any{"keepalive_interval": 200 + i}}, ifMatch(v.Version))
		w.judge("PATCH settings If-Match", r, 200)
	case n == 4:
		r := w.s.call("PUT", "/v1/groups/"+g+"/settings/kasm_audio_default_on", map[string]any{"value": w.rng.IntN(2) == 0})
		w.judge("PUT setting", r, 200)
	case n == 5:
		// 404 setting_not_set once an earlier step (or an earlier attempt of this one whose
		// answer was lost) deleted it.
		r := w.s.call("DELETE", "/v1/groups/"+g+"/settings/allow_kasm_audio", nil)
		w.judge("DELETE setting", r, 200, 404)
	case n == 6:
		r := w.s.call("PUT", "/v1/groups/"+g+"/members/"+u, nil)
		if w.judge("PUT member", r, 204) {
			w.member[[2]string{g, u}] = yes
		} else {
			w.member[[2]string{g, u}] = unknown
		}
	case n == 7:
		ok := []int{204}
		switch w.member[[2]string{g, u}] {
		case no:
			ok = []int{404}
		case unknown:
			ok = []int{204, 404}
		}
		r := w.s.call("DELETE", "/v1/groups/"+g+"/members/"+u, nil)
		if w.judge("DELETE member", r, ok...) {
			w.member[[2]string{g, u}] = no
		} else {
			w.member[[2]string{g, u}] = unknown
		}
	case n == 8:
		w.judge("GET effective-settings", w.s.call("GET", "/v1/users/"+u+"/effective-settings", nil), 200)
	case n == 9:
		w.judge("GET effective-settings (user key)", w.s.call("GET", "/v1/users/"+u+"/effective-settings", nil, asKey(w.keys[u])), 200)
	case n == 10:
		reads := []struct{ route, path string }{
			{"GET group", "/v1/groups/" + g}, {"GET history", "/v1/groups/" + g + "/history"},
			{"GET members", "/v1/groups/" + g + "/members"}, {"GET user", "/v1/users/" + u},
			{"GET groups", "/v1/groups"}, {"GET sessions of a user", "/v1/sessions?user_id=" + u},
		}
		rd := reads[w.rng.IntN(len(reads))]
		w.judge(rd.route, w.s.call("GET", rd.path, nil), 200)
	case n == 11:
		r := w.s.call("POST", "/v1/sessions", map[string]any{"image_id": "img", "container": true}, asKey(w.keys[u]))
		if w.judge("POST /v1/sessions", r, 201) {
			var ss sessions.Session
			r.decode(w.t, &ss)
			w.status[ss.SessionID], w.owner[ss.SessionID] = lifecycle.StatusRunning, u
		}
	case n == 12:
		w.judge("POST /v1/sweeps", w.s.call("POST", "/v1/sweeps", nil), 200)
	case n == 13:
		w.judge("POST keys", w.s.call("POST", "/v1/users/"+u+"/keys", map[string]any{"role": "user"}), 201)
	case sess == "":
	case n <= 15:
		r := w.s.call("POST", "/v1/sessions/"+sess+"/keepalive", nil, asKey(w.keys[w.owner[sess]]))
		w.judge("POST keepalive", r, sessionOK(w.status[sess], opKeepalive)...)
	case n == 16:
		w.judge("GET session", w.s.call("GET", "/v1/sessions/"+sess, nil), 200)
	default:
		op := []opKind{opPause, opStop, opResume, opDelete}[n-17]
		if op == opDelete && w.rng.IntN(4) != 0 {
			op = opResume // a delete ends a session for good: keep them rare
		}
		method, path := "POST", "/v1/sessions/"+sess+"/"+string(op)
		if op == opDelete {
			method, path = "DELETE", "/v1/sessions/"+sess
		}
		r := w.s.call(method, path, nil, asKey(w.keys[w.owner[sess]]))
		switch {
		case !w.judge(method+" session "+string(op), r, sessionOK(w.status[sess], op)...):
			w.status[sess] = ""
		case r.Status == 200:
			w.status[sess] = sessionTargets[op]
		case r.Status == 410:
			w.status[sess] = lifecycle.StatusDeleted
		}
	}
}

// TestAPIUnderFaults drives every kind of request through the API while a fifth of the
// DynamoDB attempts fail (the SDK retries once). Each answer must be the operation's success
// or 503 with Retry-After — never a 500 and never a 4xx the request did not deserve — and once
// the faults stop, the data must be consistent: memberships agree in both directions and with
// the member counts, each group's history replays to its settings, each session's events lead
// to its status and each user's active_sessions counts their live sessions.
func TestAPIUnderFaults(t *testing.T) {
	s := newStack(t, stackOptions{faults: faultinject.Config{Seed: 3, Default: faultyRule}})
	workers, steps := 3, 120*scale(t)
	// Users leave and join the workers' groups: the limit on sessions must not depend on it.
	s.must(http.StatusOK, "PATCH", "/v1/groups/"+policy.AllUsersGroupID+"/settings", map[string]any{"set": map[string]any{"max_kasms_per_user": 1000}}, nil)
	tl := &tally{}
	ws := make([]*faultWorker, workers)
	for i := range ws {
		w := &faultWorker{s: s, t: t, rng: rand.New(rand.NewPCG(uint64(i), 9)), tally: tl, name: fmt.Sprintf("w%d", i),
			keys: map[string]string{}, member: map[[2]string]tri{}, status: map[string]lifecycle.Status{}, owner: map[string]string{}}
		for j := range 2 {
			w.groups = append(w.groups, s.createGroup(fmt.Sprintf("w%d-group%d", i, j), 10+j, map[string]any{"allow_kasm_audio": true}))
		}
		for j := range 3 {
			u := s.createUser(fmt.Sprintf("w%d-user%d", i, j), w.groups[0])
			w.member[[2]string{w.groups[0], u}] = yes
			var k struct {
				Secret string `json:"secret"`
			}
			s.must(http.StatusCreated, "POST", "/v1/users/"+u+"/keys", map[string]any{"role": "user"}, &k)
			w.users, w.keys[u] = append(w.users, u), k.Secret
			sess := s.startSession(u, true)
			w.status[sess.SessionID], w.owner[sess.SessionID] = lifecycle.StatusRunning, u
		}
		ws[i] = w
	}
	s.faults.SetEnabled(true)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for i := range steps {
				w.step(i)
			}
		})
	}
	wg.Wait()
	s.faults.SetEnabled(false)
	stats := s.faults.Stats()
	t.Logf("answers:\n%sfaults injected:\n%s", tl, stats)
	if tl.total(503) == 0 {
		t.Errorf("no request answered 503: the faults did not surface (injected %d)", stats.Total(""))
	}
	var users []string
	for _, w := range ws {
		users = append(users, w.users...)
	}
	s.checkDirectory()
	s.checkSessions(users...)
}

// checkDirectory checks, on the clean client, that every group's members and every user's
// groups agree in both directions and with the member count, and that each group's history,
// replayed oldest first, gives its settings.
func (s *stack) checkDirectory() {
	s.t.Helper()
	ctx := context.Background()
	groups, err := s.dir.ListGroups(ctx)
	if err != nil {
		s.t.Fatalf("list groups: %v", err)
	}
	users, err := s.dir.ListUsers(ctx)
	if err != nil {
		s.t.Fatalf("list users: %v", err)
	}
	fromGroups := map[[2]string]bool{}
	for _, g := range groups {
		if g.ID == policy.AllUsersGroupID {
			continue
		}
		members, err := s.dir.ListMembers(ctx, g.ID)
		if err != nil {
			s.t.Fatalf("members of %s: %v", g.ID, err)
		}
		for _, m := range members {
			fromGroups[[2]string{g.ID, m.ID}] = true
		}
		if g.MemberCount != len(members) {
			s.t.Errorf("group %s: member_count %d, %d members", g.ID, g.MemberCount, len(members))
		}
		hist, err := s.dir.History(ctx, g.ID)
		if err != nil {
			s.t.Fatalf("history of %s: %v", g.ID, err)
		}
		replayed := map[string]string{}
		for i := len(hist) - 1; i >= 0; i-- { // newest first
			h := hist[i]
			if h.New == nil {
				delete(replayed, h.Setting)
			} else {
				replayed[h.Setting] = compactJSON(h.New)
			}
		}
		current := map[string]string{}
		for k, v := range g.Settings {
			current[k] = compactJSON(v)
		}
		if !maps.Equal(replayed, current) {
			s.t.Errorf("group %s (version %d): history replays to %v, settings are %v", g.ID, g.Version, replayed, current)
		}
	}
	fromUsers := map[[2]string]bool{}
	for _, u := range users {
		for _, g := range u.GroupIDs {
			if g != policy.AllUsersGroupID {
				fromUsers[[2]string{g, u.ID}] = true
			}
		}
	}
	for k := range fromGroups {
		if !fromUsers[k] {
			s.t.Errorf("group %s lists member %s, whose groups do not include it", k[0], k[1])
		}
	}
	for k := range fromUsers {
		if !fromGroups[k] {
			s.t.Errorf("user %s lists group %s, which does not list them", k[1], k[0])
		}
	}
}

func compactJSON(v json.RawMessage) string {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return string(v)
	}
	b, _ := json.Marshal(x)
	return string(b)
}

// TestSweepsResumeUnderFaults expires sessions with sweeps that run while a quarter of the
// DynamoDB attempts fail, some after the write happened. Each sweep does what it can and
// leaves the rest due; sweeps run until nothing is due. Then every expired session has been
// expired exactly once (one keepalive_expired event and its state event), every session kept
// alive is still running with only its created event, and the counts of live sessions agree.
func TestSweepsResumeUnderFaults(t *testing.T) {
	s := newStack(t, stackOptions{faults: faultinject.Config{Seed: 5, Default: faultinject.Rule{Rate: 0.25, AfterSend: 0.4, Delay: 2 * time.Millisecond}}})
	gStop := s.createGroup("resume-stop", 10, map[string]any{"keepalive_expiration": 60, "keepalive_expiration_action": "stop", "max_kasms_per_user": 100})
	gDel := s.createGroup("resume-delete", 10, map[string]any{"keepalive_expiration": 60, "keepalive_expiration_action": "delete", "max_kasms_per_user": 100})
	uStop, uDel := s.createUser("resume-stop-user", gStop), s.createUser("resume-delete-user", gDel)
	if rep, r := s.sweepNow(); r.Status != 200 || len(rep.Errors) > 0 {
		t.Fatalf("re-sync sweep: %s", r) // apply the setup's re-sync markers before the clock moves
	}
	const perUser = 24
	var ids []string
	for range perUser {
		ids = append(ids, s.startSession(uStop, true).SessionID, s.startSession(uDel, true).SessionID)
	}
	s.clock.Advance(61 * time.Second)
	kept := map[string]bool{}
	for i, id := range ids {
		if i%4 == 0 { // a quarter are kept alive just in time
			s.must(http.StatusOK, "POST", "/v1/sessions/"+id+"/keepalive", nil, nil)
			kept[id] = true
		}
	}
	s.faults.SetEnabled(true)
	runs, reported := 0, 0
	for ; runs < 40; runs++ {
		rep, r := s.sweepNow()
		if r.Status != http.StatusOK {
			t.Fatalf("%s: a sweep reports failures in its report, not as a status", r)
		}
		reported += rep.Stopped + rep.Deleted
		if len(rep.Errors) == 0 && s.dueCount() == 0 {
			break
		}
	}
	s.faults.SetEnabled(false)
	t.Logf("%d sweeps under faults reported %d expiries of %d due sessions; faults injected:\n%s", runs+1, reported, len(ids)-len(kept), s.faults.Stats())
	if n := s.dueCount(); n != 0 {
		t.Fatalf("after %d sweeps %d sessions are still due", runs+1, n)
	}
	if s.faults.Stats().Total("") == 0 {
		t.Fatal("no fault was injected")
	}
	ctx := context.Background()
	for _, id := range ids {
		sess, err := s.sessions.GetSession(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		wantStatus, wantExpiries := lifecycle.StatusStopped, 1
		switch {
		case kept[id]:
			wantStatus, wantExpiries = lifecycle.StatusRunning, 0
		case sess.UserID == uDel:
			wantStatus = lifecycle.StatusDeleted
		}
		if sess.Status != wantStatus {
			t.Errorf("session %s: %s, want %s", id, sess.Status, wantStatus)
		}
		if got := s.expiryEvents(id); got != wantExpiries {
			t.Errorf("session %s: %d keepalive_expired events, want %d", id, got, wantExpiries)
		}
	}
	s.checkSessions(uStop, uDel)
}

// dueCount counts the sessions a sweep at the clock's time would find due (clean client).
func (s *stack) dueCount() int {
	s.t.Helper()
	n := 0
	for shard := range tabledef.DueShards {
		tok := ""
		for {
			p, err := s.sessions.DueSessions(context.Background(), s.clock.Now(), shard, tok)
			if err != nil {
				s.t.Fatalf("due shard %d: %v", shard, err)
			}
			for _, sess := range p.Sessions {
				if !lifecycle.Decide(sess, s.clock.Now()).None() {
					n++
				}
			}
			if tok = p.NextPageToken; tok == "" {
				break
			}
		}
	}
	return n
}

// TestConnectionResetAnswers503: when every attempt of a DynamoDB call has its connection
// reset (before the request reached DynamoDB, or after it did the work), the API answers 503
// with Retry-After — the request may be retried — not 500.
func TestConnectionResetAnswers503(t *testing.T) {
	s := newStack(t, stackOptions{})
	g := s.createGroup("reset", 10, nil)
	u := s.createUser("reset-user", g)
	tests := []struct {
		name         string
		op           string
		after        bool
		method, path string
		body         any
	}{
		{"read, reset before send", "GetItem", false, "GET", "/v1/groups/" + g, nil},
		{"transaction, reset before send", "TransactWriteItems", false, "POST", "/v1/groups", map[string]any{"name": "reset-2"}},
		{"transaction, reset after the write", "TransactWriteItems", true, "PUT", "/v1/groups/" + g + "/members/" + u, nil},
		{"keepalive, reset after the write", "UpdateItem", true, "POST", "/v1/sessions/{session}/keepalive", nil},
	}
	sess := s.startSession(u, true)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := faultinject.Planned{Fault: faultinject.Reset, AfterSend: tc.after}
			s.faults.Plan("DynamoDB."+tc.op, p, p) // both attempts of the SDK's retryer
			r := s.call(tc.method, strings.Replace(tc.path, "{session}", sess.SessionID, 1), tc.body)
			if !r.unavailable() {
				t.Errorf("%s: want 503 with Retry-After", r)
			}
		})
	}
	s.checkDirectory()
	s.checkSessions(u)
}
