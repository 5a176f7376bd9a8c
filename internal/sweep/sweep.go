// Package sweep runs the periodic sweep: it brings live sessions up to date with changed
// settings (re-sync markers), then pages through every shard of the due index and applies what
// the lifecycle rules decide for each due session — keepalive expiry, time-limit warning and
// limit catch-up, usage deadline — exactly once, however many sweeps run, retry or overlap.
// Budget ledgers are in the due index too, at their deadline: the sweep ends every session
// charged to an exhausted budget (usage_limit_reached) and reschedules the others.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/usage"
)

// Store is what the sweep needs of the session store; ddbstore.SessionStore implements it.
type Store interface {
	// DueShards is how many shards the due index has; DueItems and DueSessions take 0 to
	// DueShards()-1.
	DueShards() int
	DueItems(ctx context.Context, now time.Time, shard int, pageToken string) (lifecycle.DuePage, error)
	DueSessions(ctx context.Context, now time.Time, shard int, pageToken string) (lifecycle.Page, error)
	GetSession(ctx context.Context, sessionID string) (lifecycle.Session, error)
	Transition(ctx context.Context, c lifecycle.Change) error
	ListSessions(ctx context.Context, f lifecycle.ListFilter) (lifecycle.Page, error)
	ApplyBudgetLimit(ctx context.Context, b usage.Budget, now time.Time) (bool, error)
	ResyncMarkers(ctx context.Context) ([]lifecycle.ResyncMarker, error)
	DeleteResyncMarker(ctx context.Context, m lifecycle.ResyncMarker) error
	// ResyncPage, ResyncSession and SaveResyncCursor re-sync every live session (a change on
	// All Users) page by page, paced, across sweeps: see resyncEveryone.
	ResyncPage(ctx context.Context, shard int, pageToken string) (lifecycle.Page, error)
	ResyncParkedPage(ctx context.Context, pageToken string) (lifecycle.Page, error)
	ResyncSession(ctx context.Context, s lifecycle.Session, lt lifecycle.Lifetime, rev int64) (bool, float64, error)
	SaveResyncCursor(ctx context.Context, m lifecycle.ResyncMarker, shard int, cursor string) error
	GetLedger(ctx context.Context, budget string) (lifecycle.BudgetLedger, error)
	BudgetMembers(ctx context.Context, budget string) ([]lifecycle.BudgetMember, error)
	RescheduleLedger(ctx context.Context, bl lifecycle.BudgetLedger, now time.Time) (bool, error)
	RepairMembership(ctx context.Context, budget string, m lifecycle.BudgetMember, now time.Time) (bool, error)
}

// Directory is what the sweep needs of the directory; policy.Directory implements it.
type Directory interface {
	UserWithGroups(ctx context.Context, userID string) (policy.User, []policy.Group, error)
	ListMembers(ctx context.Context, groupID string) ([]policy.User, error)
}

// Config holds what a Sweeper needs.
type Config struct {
	Store     Store
	Directory Directory
	Clock     policy.Clock
	// Workers is how many due sessions (and re-synced users) are acted on at once; 0 means
	// DefaultWorkers. SWEEP_WORKERS sets it in the local run and the sweep function.
	Workers int
	// RacePatience is how long a re-sync that keeps losing the race to a session's keepalives
	// goes on trying (lifecycle.Retry); 0 means lifecycle.DefaultRacePatience.
	RacePatience time.Duration
	// ResyncWriteUnits is the write budget of re-syncs, in write units a second, shared by the
	// runs of this Sweeper; 0 means DefaultResyncWriteUnits. RESYNC_WRITE_UNITS_PER_SECOND sets
	// it in the local run and the sweep function.
	ResyncWriteUnits int
}

// DefaultWorkers is the parallelism of a sweep whose Config.Workers is 0: with the ~15 ms a
// DynamoDB transaction takes in AWS, 32 at once act on about 2,000 sessions a second at most
// (docs/capacity.md, "Mass expiry").
const DefaultWorkers = 32

// MaxWorkers bounds Config.Workers (and SWEEP_WORKERS): more would only queue on the client's
// connections and the table's partitions.
const MaxWorkers = 256

// Sweeper runs sweeps. It keeps no state between runs: whatever a run did not finish stays due.
type Sweeper struct {
	store        Store
	dir          Directory
	clock        policy.Clock
	workers      int
	racePatience time.Duration
	// pace holds the re-sync's writes to its budget (Config.ResyncWriteUnits).
	pace        *pacer
	resyncUnits int
}

// New returns a Sweeper; a nil Clock is the system clock.
func New(cfg Config) *Sweeper {
	s := &Sweeper{store: cfg.Store, dir: cfg.Directory, clock: cfg.Clock, workers: cfg.Workers, racePatience: cfg.RacePatience}
	if s.racePatience <= 0 {
		s.racePatience = lifecycle.DefaultRacePatience
	}
	if s.clock == nil {
		s.clock = policy.SystemClock{}
	}
	if s.workers <= 0 {
		s.workers = DefaultWorkers
	}
	s.workers = min(s.workers, MaxWorkers)
	s.resyncUnits = cfg.ResyncWriteUnits
	if s.resyncUnits <= 0 {
		s.resyncUnits = DefaultResyncWriteUnits
	}
	s.pace = newPacer(s.resyncUnits)
	return s
}

// Workers is how many due sessions a run acts on at once.
func (s *Sweeper) Workers() int { return s.workers }

// ResyncWriteUnits is the re-sync's write budget in write units a second.
func (s *Sweeper) ResyncWriteUnits() int { return s.resyncUnits }

// Options control one run.
type Options struct {
	// DryRun decides everything and writes nothing; the report lists what would be done.
	DryRun bool
	// Now is the time the run decides at; zero means the clock's time.
	Now time.Time
	// Budget bounds the run's own time: once it is spent the run reads no further page or
	// marker and takes up no further session, finishes what it has started, and returns a
	// report with Cut set; the rest stays due for the next run. Zero: no bound but ctx's.
	Budget time.Duration
}

// maxReportedActions bounds the actions and errors a report lists (the counts stay exact).
const maxReportedActions = 10_000

// Action is one thing a sweep did (or, in a dry run, would do) to a session.
type Action struct {
	SessionID string `json:"session_id"`
	UserID    string `json:"user_id"`
	// Budget is the budget key of an action on a budget's ledger or caused by it.
	Budget string `json:"budget,omitempty"`
	// Action is delete, stop, pause, warn, leave (already in its target state: leaves the due
	// index), reschedule, resync, or repair (a budget membership whose session had ended is
	// ended in the ledger).
	Action string `json:"action"`
	Reason string `json:"reason"`
}

// Report says what a run did.
type Report struct {
	DryRun bool      `json:"dry_run"`
	Now    time.Time `json:"now"`
	// Examined counts the due sessions decided on.
	Examined int `json:"examined"`
	// Expired counts keepalive expiries (each also counted as Stopped, Paused or Deleted).
	Expired int `json:"expired"`
	Stopped int `json:"stopped"`
	Paused  int `json:"paused"`
	Deleted int `json:"deleted"`
	// Warned counts time-limit warnings recorded.
	Warned int `json:"warned"`
	// LeftAlone counts sessions already in their target state, taken out of the due index.
	LeftAlone   int `json:"left_alone"`
	Rescheduled int `json:"rescheduled"`
	// Skipped counts changes not made because somebody else (a keepalive, a user, another
	// sweep) changed the session first.
	Skipped int `json:"skipped"`
	// ResyncMarkers counts the re-sync markers handled; Resynced the sessions given new
	// lifetime settings.
	ResyncMarkers int `json:"resync_markers"`
	Resynced      int `json:"resynced"`
	// ResyncPending counts the markers left for the next run (not finished in this one's
	// re-sync share of its budget, or failed); ResyncUnits the write units the re-sync spent.
	ResyncPending int     `json:"resync_pending"`
	ResyncUnits   float64 `json:"resync_write_units"`
	// Budgets counts the due budget ledgers decided on; ExhaustedBudgets those whose sessions
	// were ended; Repaired the memberships of ended sessions removed from a ledger;
	// ResyncedBudgets the ledgers given a changed usage_limit by the re-sync.
	Budgets          int      `json:"budgets"`
	ExhaustedBudgets int      `json:"exhausted_budgets"`
	Repaired         int      `json:"repaired"`
	ResyncedBudgets  int      `json:"resynced_budgets"`
	Actions          []Action `json:"actions"`
	Errors           []string `json:"errors"`
	DurationMs       int64    `json:"duration_ms"`
	// ItemsRead counts the items read: due sessions, markers and re-synced users' sessions.
	ItemsRead int `json:"items_read"`
	// Throttled counts the store calls DynamoDB throttled past the SDK's own retries, which the
	// run retried after a back-off (see backoff).
	Throttled int `json:"throttled"`
	// Cut says the run stopped when its time budget (Options.Budget) was spent; what it did
	// not reach is left for the next run.
	Cut bool `json:"cut"`
}

// run is the state of one run, shared by its workers.
type run struct {
	*Sweeper
	opts Options
	now  time.Time
	// deadline is when the run's budget is spent (zero: none); resyncDeadline when the
	// re-sync's share of it is (resyncShare), so that expiries are never starved by a re-sync.
	deadline       time.Time
	resyncDeadline time.Time
	mu             sync.Mutex
	rep            Report
	// budgetsResynced holds the budgets whose limit this run's re-sync has seen to.
	budgetsResynced map[string]bool
}

func (r *run) update(f func(*Report)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.rep)
}

func (r *run) fail(err error) {
	r.update(func(rep *Report) {
		if len(rep.Errors) < maxReportedActions {
			rep.Errors = append(rep.Errors, err.Error())
		}
	})
}

func (r *run) record(a Action) {
	r.update(func(rep *Report) {
		if len(rep.Actions) < maxReportedActions {
			rep.Actions = append(rep.Actions, a)
		}
	})
}

// Run runs one sweep: re-sync first (so expiry decisions use the settings in force), then the
// due sessions of every shard. A failure on one session or shard is recorded in the report and
// the run goes on; what it could not do stays due for the next run. Run returns an error only
// when ctx ends.
func (s *Sweeper) Run(ctx context.Context, opts Options) (Report, error) {
	start := time.Now()
	now := opts.Now
	if now.IsZero() {
		now = s.clock.Now()
	}
	now = lifecycle.Millis(now)
	r := &run{Sweeper: s, opts: opts, now: now}
	if opts.Budget > 0 {
		r.deadline = start.Add(opts.Budget)
		r.resyncDeadline = start.Add(time.Duration(float64(opts.Budget) * resyncShare))
	}
	r.rep = Report{DryRun: opts.DryRun, Now: now, Actions: []Action{}, Errors: []string{}}
	r.resync(ctx)
	r.expire(ctx)
	r.rep.DurationMs = time.Since(start).Milliseconds()
	if !opts.DryRun {
		metrics.Millis(metrics.SweepDuration, time.Since(start))
		if r.rep.Cut {
			metrics.Count(metrics.SweepsCut, 1)
		}
	}
	return r.rep, ctx.Err()
}

// spent reports whether the run's budget is used up, and then marks the report cut.
func (r *run) spent() bool {
	if r.deadline.IsZero() || time.Now().Before(r.deadline) {
		return false
	}
	r.update(func(rep *Report) { rep.Cut = true })
	return true
}

// resyncShare is the part of a run's budget its re-sync may take: the rest is the expiries'.
// What the re-sync does not finish in it, the next run goes on with.
const resyncShare = 0.75

// resyncSpent reports whether the run's re-sync share of its budget is used up (or ctx ended).
func (r *run) resyncSpent(ctx context.Context) bool {
	return ctx.Err() != nil || (!r.resyncDeadline.IsZero() && !time.Now().Before(r.resyncDeadline))
}

// expire pages through every shard of the due index; workers decide and apply.
func (r *run) expire(ctx context.Context) {
	jobs := make(chan func(), 2*r.workers)
	var workers sync.WaitGroup
	for range r.workers {
		workers.Go(func() {
			for job := range jobs {
				job()
			}
		})
	}
	var readers sync.WaitGroup
	n := r.store.DueShards()
	shards := make(chan int, n)
	for i := range n {
		shards <- i
	}
	close(shards)
	// A reader per 4 workers (at least 4): a page (a query and a batch read of up to 100
	// items) keeps 4 workers busy for about as long as it takes to read.
	for range min(max(4, r.workers/4), n) {
		readers.Go(func() {
			for shard := range shards {
				r.readShard(ctx, shard, jobs)
			}
		})
	}
	readers.Wait()
	close(jobs)
	workers.Wait()
}

func (r *run) readShard(ctx context.Context, shard int, jobs chan<- func()) {
	tok := ""
	for ctx.Err() == nil && !r.spent() {
		var p lifecycle.DuePage
		err := r.backoff(ctx, func() (err error) {
			p, err = r.store.DueItems(ctx, r.now, shard, tok)
			return err
		})
		if err != nil {
			r.fail(fmt.Errorf("read due shard %d: %w", shard, err))
			return
		}
		r.update(func(rep *Report) { rep.ItemsRead += len(p.Sessions) + len(p.Ledgers) })
		batch := r.sessionJobs(ctx, p.Sessions)
		for _, bl := range p.Ledgers {
			batch = append(batch, func() { r.handleBudget(ctx, bl) })
		}
		for _, job := range batch {
			if r.spent() {
				return
			}
			select {
			case jobs <- job:
			case <-ctx.Done():
				return
			}
		}
		if tok = p.NextPageToken; tok == "" {
			return
		}
	}
}

// GroupWriter is what a Store offers when it can write several sessions' changes in one
// request (ddbstore.SessionStore.TransitionAll): each change applied exactly once as Transition
// applies it, each one's error in order. A sweep hands it the changes of a page in groups of
// up to changesPerJob; with a Store that does not offer it, each change is a Transition.
type GroupWriter interface {
	TransitionAll(ctx context.Context, cs []lifecycle.Change) []error
}

// changesPerJob is how many due sessions' changes one worker applies at once through a
// GroupWriter (in one transaction where they can share one; see ddbstore).
const changesPerJob = 8

// sessionJobs decides on a page of due sessions and returns the jobs that apply the changes:
// one per change, or one per group of up to changesPerJob when the store is a GroupWriter.
func (r *run) sessionJobs(ctx context.Context, page []lifecycle.Session) []func() {
	var jobs []func()
	var group []lifecycle.Change
	gw, grouped := r.store.(GroupWriter)
	flush := func() {
		if len(group) > 0 {
			g := slices.Clone(group)
			jobs = append(jobs, func() { r.applyAll(ctx, gw, g) })
			group = group[:0]
		}
	}
	for _, sess := range page {
		c := lifecycle.Decide(sess, r.now)
		r.update(func(rep *Report) { rep.Examined++ })
		switch {
		case c.None():
		case grouped && !r.opts.DryRun:
			if group = append(group, c); len(group) == changesPerJob {
				flush()
			}
		default:
			jobs = append(jobs, func() { r.apply(ctx, c) })
		}
	}
	flush()
	return jobs
}

// applyAll applies a group of changes through gw. A change whose write failed on throttling
// or another passing failure (the group's answer lost, say) is retried on its own, with
// back-off: its guard then tells whether the group's write was applied after all.
func (r *run) applyAll(ctx context.Context, gw GroupWriter, cs []lifecycle.Change) {
	if len(cs) == 1 {
		r.apply(ctx, cs[0])
		return
	}
	errs := gw.TransitionAll(ctx, cs)
	for i, c := range cs {
		err := errs[i]
		if throttled(err) || policy.IsKind(err, policy.KindUnavailable) {
			err = r.backoff(ctx, func() error { return r.store.Transition(ctx, c) })
		}
		r.applied(c, err)
	}
}

// apply applies one change (unless dry run), with back-off, and records it.
func (r *run) apply(ctx context.Context, c lifecycle.Change) {
	var err error
	if !r.opts.DryRun {
		err = r.backoff(ctx, func() error { return r.store.Transition(ctx, c) })
	}
	r.applied(c, err)
}

// applied records the outcome of change c, whose write answered err.
func (r *run) applied(c lifecycle.Change, err error) {
	sess := c.Before
	switch {
	case policy.CodeOf(err) == policy.CodeSessionChanged, policy.IsKind(err, policy.KindNotFound):
		r.update(func(rep *Report) { rep.Skipped++ })
		return
	case err != nil:
		r.fail(err)
		return
	}
	r.record(Action{SessionID: sess.ID, UserID: sess.UserID, Action: string(c.Outcome), Reason: c.Reason})
	r.update(func(rep *Report) {
		switch c.Outcome {
		case lifecycle.OutcomeDelete:
			rep.Deleted++
		case lifecycle.OutcomeStop:
			rep.Stopped++
		case lifecycle.OutcomePause:
			rep.Paused++
		case lifecycle.OutcomeWarn:
			rep.Warned++
		case lifecycle.OutcomeLeaveAlone:
			rep.LeftAlone++
		case lifecycle.OutcomeReschedule:
			rep.Rescheduled++
		}
		if c.Reason == lifecycle.ReasonKeepaliveExpired {
			rep.Expired++
		}
		if c.Reason == lifecycle.ReasonKeepaliveExpired && !r.opts.DryRun && !sess.ExpiresAt.IsZero() {
			// How long after its keepalive expiry the sweep ended it.
			metrics.Millis(metrics.ExpiryLag, r.now.Sub(sess.ExpiresAt))
		}
	})
}

// resync handles the pending re-sync markers: it finds the users whose lifetime settings may
// have changed, re-resolves each once and updates their live sessions, then deletes the
// markers it handled completely. A failed marker stays for the next run.
func (r *run) resync(ctx context.Context) {
	markers, err := r.store.ResyncMarkers(ctx)
	if err != nil {
		r.fail(err)
		return
	}
	if len(markers) == 0 {
		return
	}
	r.update(func(rep *Report) { rep.ItemsRead += len(markers); rep.ResyncMarkers = len(markers) })
	targets := make([][]string, len(markers)) // the users each marker re-syncs
	everyone := make([]bool, len(markers))    // the marker re-syncs every live session
	failed := make([]bool, len(markers))
	for i, m := range markers {
		switch {
		case m.Kind == lifecycle.ResyncUser:
			targets[i] = []string{m.ID}
		case m.Kind == lifecycle.ResyncGroup && m.ID == policy.AllUsersGroupID:
			everyone[i] = true
		case m.Kind == lifecycle.ResyncGroup:
			members, err := r.dir.ListMembers(ctx, m.ID)
			switch {
			case policy.IsKind(err, policy.KindNotFound):
				everyone[i] = true // a deleted group: who its members were is gone
			case err != nil:
				r.fail(fmt.Errorf("re-sync group %s: %w", m.ID, err))
				failed[i] = true
			}
			for _, u := range members {
				targets[i] = append(targets[i], u.ID)
			}
		}
	}
	done := r.resyncUsers(ctx, targets)
	var all []lifecycle.ResyncMarker
	for i, m := range markers {
		if everyone[i] {
			all = append(all, m)
			continue
		}
		for _, id := range targets[i] {
			if err, ok := done[id]; !ok || err != nil {
				failed[i] = true // not reached (out of time) or failed: the marker stays
				break
			}
		}
		if failed[i] || r.opts.DryRun || ctx.Err() != nil {
			r.update(func(rep *Report) { rep.ResyncPending++ })
			continue
		}
		if err := r.store.DeleteResyncMarker(ctx, m); err != nil {
			r.fail(err)
		}
	}
	if len(all) > 0 {
		r.resyncEveryone(ctx, all, done)
	}
}

// resyncUsers re-syncs each user the markers name, once, r.workers at a time, in the markers'
// order; it returns the outcome per user reached. Once the run's budget is spent it takes up no
// further user.
func (r *run) resyncUsers(ctx context.Context, targets [][]string) map[string]error {
	var mu sync.Mutex
	done := map[string]error{}
	users := make(chan string)
	var workers sync.WaitGroup
	for range r.workers {
		workers.Go(func() {
			for id := range users {
				err := r.resyncUser(ctx, id)
				if err != nil {
					r.fail(err)
				}
				mu.Lock()
				done[id] = err
				mu.Unlock()
			}
		})
	}
	seen := map[string]bool{}
feed:
	for _, ids := range targets {
		for _, id := range ids {
			if seen[id] {
				continue
			}
			if r.spent() || r.resyncSpent(ctx) {
				break feed
			}
			seen[id] = true
			users <- id
		}
	}
	close(users)
	workers.Wait()
	return done
}

// resyncUser re-resolves one user's settings (two round trips) and puts the lifetime values in
// force on each of their live sessions.
func (r *run) resyncUser(ctx context.Context, userID string) error {
	res, err := sessions.ResolveUser(ctx, r.dir, userID)
	if policy.IsKind(err, policy.KindNotFound) {
		return nil // the user is gone; their sessions keep what they have
	}
	if err != nil {
		return fmt.Errorf("re-sync user %s: %w", userID, err)
	}
	lt := lifecycle.LifetimeFrom(res)
	f := lifecycle.ListFilter{UserID: userID, Limit: lifecycle.MaxPageSize}
	var errs []error
	if err := r.resyncBudget(ctx, userID, res); err != nil {
		errs = append(errs, err)
	}
	for {
		p, err := r.store.ListSessions(ctx, f)
		if err != nil {
			return fmt.Errorf("re-sync user %s: %w", userID, err)
		}
		r.update(func(rep *Report) { rep.ItemsRead += len(p.Sessions) })
		for _, sess := range p.Sessions {
			if sess.Status == lifecycle.StatusDeleted {
				continue
			}
			if err := r.resyncSession(ctx, sess, lt); err != nil {
				errs = append(errs, err)
			}
		}
		if f.PageToken = p.NextPageToken; f.PageToken == "" {
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("re-sync user %s: %w", userID, errors.Join(errs...))
	}
	return nil
}
