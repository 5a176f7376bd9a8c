package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sweep"
)

// steadyResult is the write capacity of keepalives in steady state: sessions with the default
// settings (keepalive_interval 300 s, keepalive_expiration 3600 s) kept alive on a simulated
// clock for hours, with a sweep every simulated minute, so that what the sweep writes to
// correct early due index entries (about once per keepalive_expiration per session) is counted
// with the keepalives it is paid for. Every write goes to DynamoDB Local, which reports its
// units (ReturnConsumedCapacity INDEXES).
type steadyResult struct {
	Sessions  int     `json:"sessions"`
	Hours     float64 `json:"simulated_hours"`
	IntervalS int64   `json:"keepalive_interval_s"`
	ExpiryS   int64   `json:"keepalive_expiration_s"`
	// Cold: every keepalive from a process that has not seen the session before (as on Lambda
	// when one session's keepalives reach different instances), so none moves its due entry
	// and the sweeps correct them all.
	Cold bool `json:"cold"`
	// MeasuredFromS is when counting starts, in seconds after the first start: after one
	// keepalive_expiration, once every session has had its first correction due.
	MeasuredFromS int64 `json:"measured_from_s"`
	Sweeps        int   `json:"sweeps"`
	// Keepalives is how many were sent; KeepaliveUnits what they cost.
	Keepalives     int      `json:"keepalives"`
	KeepaliveUnits capacity `json:"keepalive_units"`
	// SweepUnits is what the sweeps wrote; Rescheduled how many due entries they moved.
	SweepUnits  capacity `json:"sweep_units"`
	Rescheduled int      `json:"rescheduled"`
	// Acted counts sessions the sweeps expired, stopped or otherwise acted on: 0, since every
	// session was kept alive.
	Acted int `json:"acted_on"`
	// UnitsPerKeepalive is (keepalive + sweep units) ÷ keepalives.
	UnitsPerKeepalive float64 `json:"units_per_keepalive"`
}

// benchKeepaliveSteady starts sessions sessions (one user each, default settings) at even
// offsets over one keepalive interval, then keeps each alive every interval for hours of
// simulated time with a sweep every minute, and adds up the write units.
func benchKeepaliveSteady(ctx context.Context, p *progress, endpoint string, sessions int, hours float64, cold bool) (*steadyResult, error) {
	clock := &policy.FixedClock{T: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	table := "bench_keepalive_steady"
	if cold {
		table += "_cold"
	}
	e, err := newEnv(ctx, endpoint, table, sessions, clock)
	if err != nil {
		return nil, err
	}
	defer e.close()
	p.logf("keepalive steady state (cold %t): %d sessions, %.0f simulated hours, a sweep every simulated minute", cold, sessions, hours)
	start := clock.Now()
	ids := make([]string, sessions)
	var interval, expiry time.Duration
	for i := range sessions {
		_, key, err := e.newUserWithKey(ctx, fmt.Sprintf("steady-user-%03d", i))
		if err != nil {
			return nil, err
		}
		if ids[i], err = e.startSession(ctx, key); err != nil {
			return nil, err
		}
		s, err := e.ss.GetSession(ctx, ids[i])
		if err != nil {
			return nil, err
		}
		interval, expiry = s.Lifetime.KeepaliveInterval, s.Lifetime.KeepaliveExpiration
		clock.Advance(interval / time.Duration(sessions))
	}
	res := &steadyResult{Sessions: sessions, Hours: hours, IntervalS: int64(interval / time.Second), ExpiryS: int64(expiry / time.Second),
		Cold: cold, MeasuredFromS: int64(expiry / time.Second)}
	measureFrom := start.Add(expiry)
	// The events of the simulation: keepalive i of session j at start + j·interval/n + i·interval,
	// a sweep every minute (offset by 17 s, as a schedule is not aligned with anyone's clients).
	type event struct {
		at      time.Time
		session int // -1: a sweep
	}
	var events []event
	end := start.Add(time.Duration(hours * float64(time.Hour)))
	for j := range sessions {
		for t := start.Add(time.Duration(j)*interval/time.Duration(sessions) + interval); t.Before(end); t = t.Add(interval) {
			events = append(events, event{t, j})
		}
	}
	for t := start.Add(17 * time.Second); t.Before(end); t = t.Add(time.Minute) {
		events = append(events, event{t, -1})
	}
	slices.SortStableFunc(events, func(a, b event) int { return a.at.Compare(b.at) })
	sw := sweep.New(sweep.Config{Store: e.ss, Directory: e.store, Clock: clock})
	admin := lifecycle.Actor{Admin: true}
	for n, ev := range events {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		clock.Set(ev.at)
		before := e.capacity.snapshot()
		counted := !ev.at.Before(measureFrom)
		if ev.session < 0 {
			rep, err := sw.Run(ctx, sweep.Options{Now: ev.at})
			if err != nil {
				return nil, err
			}
			if len(rep.Errors) > 0 {
				return nil, fmt.Errorf("sweep at %v: %s", ev.at, rep.Errors[0])
			}
			res.Acted += rep.Stopped + rep.Paused + rep.Deleted + rep.Expired
			if counted {
				res.Sweeps++
				res.Rescheduled += rep.Rescheduled
				res.SweepUnits = addCapacity(res.SweepUnits, e.capacity.since(before))
			}
		} else {
			svc := e.svc
			if cold {
				svc = newSessionService(ddbstore.Open(e.db, e.table).Sessions(), e.store, clock)
			}
			if _, err := svc.Keepalive(ctx, admin, ids[ev.session], nil); err != nil {
				return nil, fmt.Errorf("keepalive of session %s at %v: %w", ids[ev.session], ev.at, err)
			}
			if counted {
				res.Keepalives++
				res.KeepaliveUnits = addCapacity(res.KeepaliveUnits, e.capacity.since(before))
			}
		}
		if n%1000 == 999 {
			p.logf("keepalive steady state: %d/%d events, %d keepalives, %d sweeps", n+1, len(events), res.Keepalives, res.Sweeps)
		}
	}
	if res.Keepalives > 0 {
		res.UnitsPerKeepalive = (res.KeepaliveUnits.Total() + res.SweepUnits.Total()) / float64(res.Keepalives)
	}
	p.logf("keepalive steady state: %d keepalives %.0f units, %d sweeps %.0f units (%d rescheduled, %d acted on): %.3f units per keepalive",
		res.Keepalives, res.KeepaliveUnits.Total(), res.Sweeps, res.SweepUnits.Total(), res.Rescheduled, res.Acted, res.UnitsPerKeepalive)
	if res.Acted > 0 {
		return res, fmt.Errorf("the sweeps acted on %d sessions that were kept alive", res.Acted)
	}
	return res, nil
}

// addCapacity adds two capacity figures.
func addCapacity(a, b capacity) capacity {
	out := capacity{
		Writes: a.Writes + b.Writes, TableUnits: a.TableUnits + b.TableUnits,
		Transactions: a.Transactions + b.Transactions, TxUnits: a.TxUnits + b.TxUnits,
		IndexUnits: map[string]float64{},
	}
	for k, v := range a.IndexUnits {
		out.IndexUnits[k] += v
	}
	for k, v := range b.IndexUnits {
		out.IndexUnits[k] += v
	}
	return out
}
