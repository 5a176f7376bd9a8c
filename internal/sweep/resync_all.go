package sweep

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
)

// BatchDirectory is what the re-sync of every live session reads the directory with when the
// Directory has it (ddbstore.Store does): the users of a page of sessions 100 to a request and
// each group once per run, instead of two round trips per user.
type BatchDirectory interface {
	UsersGroups(ctx context.Context, ids []string) (map[string][]string, error)
	Groups(ctx context.Context, ids []string) ([]policy.Group, error)
}

// resyncSession puts lt (resolved at the run's time) in force on one session, within the
// re-sync's write budget: a session that already carries it costs no write and no budget. A
// running session takes one conditional update in place (Store.ResyncSession), any other a
// guarded transition; either way a session that changed since it was read is read again and
// decided again (lifecycle.Retry, for the race patience).
func (r *run) resyncSession(ctx context.Context, sess lifecycle.Session, lt lifecycle.Lifetime) error {
	rev := r.now.UnixMilli()
	c := lifecycle.Resync(sess, lt, rev)
	if !lifecycle.ResyncWrites(c) {
		return nil
	}
	if !r.opts.DryRun {
		if err := r.pace.wait(ctx, 1); err != nil {
			return err
		}
		var units float64
		applied, err := r.writeResync(ctx, sess, lt, rev, &units)
		r.pace.charge(units - 1)
		r.update(func(rep *Report) { rep.ResyncUnits += units })
		if err != nil {
			return err
		}
		if !applied {
			return nil
		}
	}
	r.record(Action{SessionID: sess.ID, UserID: sess.UserID, Action: string(c.Outcome), Reason: c.Reason})
	r.update(func(rep *Report) { rep.Resynced++ })
	return nil
}

// writeResync is resyncSession's read → decide → write loop; units adds up the write units
// its writes consumed. A session gone meanwhile needs nothing.
func (r *run) writeResync(ctx context.Context, s lifecycle.Session, lt lifecycle.Lifetime, rev int64, units *float64) (bool, error) {
	read := false
	applied, err := lifecycle.Retry("session "+s.ID, r.racePatience, func() (bool, error) {
		if read {
			var err error
			if s, err = r.store.GetSession(ctx, s.ID); err != nil {
				return false, err
			}
		}
		read = true
		c := lifecycle.Resync(s, lt, rev)
		if !lifecycle.ResyncWrites(c) {
			return false, nil
		}
		if !lifecycle.ResyncInPlace(c) {
			*units += resyncTransitionUnits
			if err := r.backoff(ctx, func() error { return r.store.Transition(ctx, c) }); err != nil {
				return false, err // session_changed: Retry reads and decides again
			}
			return true, nil
		}
		var ok bool
		err := r.backoff(ctx, func() (err error) {
			var u float64
			ok, u, err = r.store.ResyncSession(ctx, s, lt, rev)
			*units += u
			return err
		})
		return ok, err
	})
	if policy.IsKind(err, policy.KindNotFound) {
		return false, nil
	}
	return applied, err
}

// resyncTransitionUnits is what the pace charges for a re-sync written as a guarded transition
// (the session item and its Due entry moved): the store does not report it.
const resyncTransitionUnits = 3

// resyncEveryone re-syncs every live session for the markers ms (a change on All Users, or a
// deleted group whose members are gone): it pages through every shard of the due index, and
// through the paused and stopped sessions outside it as one more shard (ResyncParkedPage),
// resolves each page's users (UsersGroups, groups once per run), and re-syncs
// each session whose lifetime changed with one paced write (Store.ResyncSession). After each
// page it saves on the markers how far the shard got (SaveResyncCursor), so that a run that
// ends first — its re-sync share of the budget spent, or a crash — leaves the next run to go on
// from there; the markers are deleted once every shard is done. Overlapping runs both act, but
// every write is conditioned on the item: each session takes the settings once. The users
// synced (re-synced by this run already, without error) are not done again.
func (r *run) resyncEveryone(ctx context.Context, ms []lifecycle.ResyncMarker, synced map[string]error) {
	n := r.store.DueShards() + 1 // the last: the parked sessions
	shards := make(chan int, n)
	var done atomic.Int64
	starts := make([]string, n)
	for shard := range n {
		// Markers saved together share their cursors; a newer one (or one of another pass)
		// starts the shard over for all.
		starts[shard] = ms[0].Cursors[shard]
		for _, m := range ms[1:] {
			if m.Cursors[shard] != starts[shard] {
				starts[shard] = ""
			}
		}
		if starts[shard] == lifecycle.ResyncShardDone {
			done.Add(1)
			continue
		}
		shards <- shard
	}
	close(shards)
	res := newResolver(r)
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
	for range min(max(4, r.workers/4), n) {
		readers.Go(func() {
			for shard := range shards {
				if r.resyncShard(ctx, ms, shard, starts[shard], res, synced, jobs) {
					done.Add(1)
				}
			}
		})
	}
	readers.Wait()
	close(jobs)
	workers.Wait()
	if done.Load() < int64(n) || r.opts.DryRun || ctx.Err() != nil {
		r.update(func(rep *Report) { rep.ResyncPending += len(ms) })
		return
	}
	for _, m := range ms {
		if err := r.store.DeleteResyncMarker(ctx, m); err != nil {
			r.fail(err)
		}
	}
}

// resyncShard re-syncs one due shard from page token tok, a page at a time (a page is done
// when each of its sessions is), and reports whether it reached the end.
func (r *run) resyncShard(ctx context.Context, ms []lifecycle.ResyncMarker, shard int, tok string, res *resolver, synced map[string]error, jobs chan<- func()) bool {
	for !r.spent() && !r.resyncSpent(ctx) {
		var p lifecycle.Page
		err := r.backoff(ctx, func() (err error) {
			if shard == r.store.DueShards() {
				p, err = r.store.ResyncParkedPage(ctx, tok)
			} else {
				p, err = r.store.ResyncPage(ctx, shard, tok)
			}
			return err
		})
		if err != nil {
			r.fail(fmt.Errorf("re-sync shard %d: %w", shard, err))
			return false
		}
		r.update(func(rep *Report) { rep.ItemsRead += len(p.Sessions) })
		lts, err := res.lifetimes(ctx, p.Sessions)
		if err != nil {
			r.fail(fmt.Errorf("re-sync shard %d: %w", shard, err))
			return false
		}
		var page sync.WaitGroup
		var failed atomic.Bool
		for _, sess := range p.Sessions {
			lt, ok := lts[sess.UserID]
			if err, seen := synced[sess.UserID]; !ok || (seen && err == nil) || sess.Status == lifecycle.StatusDeleted {
				continue // the user is gone (their sessions keep what they have) or done already
			}
			page.Add(1)
			job := func() {
				defer page.Done()
				if err := r.resyncSession(ctx, sess, lt); err != nil {
					failed.Store(true)
					r.fail(fmt.Errorf("re-sync user %s: %w", sess.UserID, err))
				}
			}
			select {
			case jobs <- job:
			case <-ctx.Done():
				page.Done()
				failed.Store(true)
			}
		}
		page.Wait()
		if failed.Load() || ctx.Err() != nil {
			return false // the cursor stays before this page: the next run does it again
		}
		cursor := p.NextPageToken
		if cursor == "" {
			cursor = lifecycle.ResyncShardDone
		}
		if !r.opts.DryRun {
			for _, m := range ms {
				if err := r.store.SaveResyncCursor(ctx, m, shard, cursor); err != nil {
					r.fail(err) // the shard's pages since the last save are done again: harmless
				}
			}
		}
		if tok = p.NextPageToken; tok == "" {
			return true
		}
	}
	return false
}

// resolver resolves users' lifetime settings for one run, each user once: with a
// BatchDirectory, a page's new users in one BatchGetItem and each group once; without, two
// round trips per user (sessions.ResolveUser).
type resolver struct {
	r     *run
	batch BatchDirectory
	mu    sync.Mutex
	// users holds each user's lifetime (absent: not resolved yet; gone: the user is gone).
	users map[string]lifecycle.Lifetime
	gone  map[string]bool
	// groups holds the groups read (nil value: gone); byGroups the resolution of a set of
	// groups, by their sorted ids.
	groups   map[string]*policy.Group
	byGroups map[string]settings.Resolution
}

func newResolver(r *run) *resolver {
	res := &resolver{r: r, users: map[string]lifecycle.Lifetime{}, gone: map[string]bool{},
		groups: map[string]*policy.Group{}, byGroups: map[string]settings.Resolution{}}
	res.batch, _ = r.dir.(BatchDirectory)
	return res
}

// lifetimes returns the lifetime settings of the users of sessions (a user who is gone is left
// out), and re-syncs the budget of each user resolved for the first time.
func (res *resolver) lifetimes(ctx context.Context, page []lifecycle.Session) (map[string]lifecycle.Lifetime, error) {
	out := map[string]lifecycle.Lifetime{}
	var todo []string
	res.mu.Lock()
	for _, s := range page {
		if lt, ok := res.users[s.UserID]; ok {
			out[s.UserID] = lt
		} else if !res.gone[s.UserID] && !slices.Contains(todo, s.UserID) {
			todo = append(todo, s.UserID)
		}
	}
	res.mu.Unlock()
	if len(todo) == 0 {
		return out, nil
	}
	resolved, err := res.resolve(ctx, todo)
	if err != nil {
		return nil, err
	}
	res.mu.Lock()
	for _, id := range todo {
		if _, ok := resolved[id]; !ok {
			res.gone[id] = true
		}
	}
	res.mu.Unlock()
	for id, rs := range resolved {
		if err := res.r.resyncBudget(ctx, id, rs); err != nil {
			return nil, err
		}
		lt := lifecycle.LifetimeFrom(rs)
		out[id] = lt
		res.mu.Lock()
		res.users[id] = lt
		res.mu.Unlock()
	}
	return out, nil
}

// resolve resolves the settings of users ids; a user who is gone is left out.
func (res *resolver) resolve(ctx context.Context, ids []string) (map[string]settings.Resolution, error) {
	out := map[string]settings.Resolution{}
	if res.batch == nil {
		for _, id := range ids {
			rs, err := sessions.ResolveUser(ctx, res.r.dir, id)
			if policy.IsKind(err, policy.KindNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("resolve user %s: %w", id, err)
			}
			out[id] = rs
		}
		return out, nil
	}
	var memberships map[string][]string
	err := res.r.backoff(ctx, func() (err error) {
		memberships, err = res.batch.UsersGroups(ctx, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	var missing []string
	res.mu.Lock()
	for _, gs := range memberships {
		for _, g := range append(gs, policy.AllUsersGroupID) {
			if _, ok := res.groups[g]; !ok && !slices.Contains(missing, g) {
				missing = append(missing, g)
			}
		}
	}
	res.mu.Unlock()
	if len(missing) > 0 {
		var groups []policy.Group
		err := res.r.backoff(ctx, func() (err error) {
			groups, err = res.batch.Groups(ctx, missing)
			return err
		})
		if err != nil {
			return nil, err
		}
		res.mu.Lock()
		for _, g := range missing {
			res.groups[g] = nil // gone unless read below
		}
		for _, g := range groups {
			res.groups[g.ID] = &g
		}
		res.mu.Unlock()
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	for id, gs := range memberships {
		ids := append([]string{policy.AllUsersGroupID}, gs...)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		key := strings.Join(ids, "\x00")
		rs, ok := res.byGroups[key]
		if !ok {
			// As UserWithGroups: the live groups, by priority then id.
			var groups []policy.Group
			for _, g := range ids {
				if p := res.groups[g]; p != nil {
					groups = append(groups, *p)
				}
			}
			sort.Slice(groups, func(i, j int) bool {
				if groups[i].Priority != groups[j].Priority {
					return groups[i].Priority < groups[j].Priority
				}
				return groups[i].ID < groups[j].ID
			})
			rs = settings.ResolveGroups(groups)
			res.byGroups[key] = rs
		}
		out[id] = rs
	}
	return out, nil
}
