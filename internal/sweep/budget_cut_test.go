package sweep_test

import (
	"context"
	"testing"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/metrics"
	"wspolicy/internal/sweep"
)

// TestBudgetCutsTheRun checks that a run whose time budget is spent stops cleanly — no error,
// the report marked cut, the sessions still due — and that the next run does the rest.
func TestBudgetCutsTheRun(t *testing.T) {
	const ka = 10 * time.Second
	e := newEnv(t, "u1")
	for _, id := range []string{"s1", "s2", "s3"} {
		e.start(t, id, "u1", true, lifetime(lifecycle.ActionDelete, ka), t0)
	}
	sw := e.sweeper(nil)
	// A budget spent before the run reads its first page.
	rep, err := sw.Run(context.Background(), sweep.Options{Now: t0.Add(ka), Budget: time.Nanosecond})
	if err != nil || len(rep.Errors) != 0 {
		t.Fatalf("a cut run: err %v, errors %v; want neither", err, rep.Errors)
	}
	if !rep.Cut || rep.Examined != 0 {
		t.Errorf("cut run: cut %v, examined %d; want cut and nothing examined", rep.Cut, rep.Examined)
	}
	if s := e.get(t, "s1"); s.Status != lifecycle.StatusRunning || s.DueAt.IsZero() {
		t.Errorf("after a cut run s1 is %s, due %v; want running and still due", s.Status, s.DueAt)
	}
	lagsBefore := figure(metrics.ExpiryLag)
	rep = e.sweep(t, sw, t0.Add(ka+2*time.Second))
	if rep.Cut || rep.Deleted != 3 {
		t.Errorf("next run: cut %v, deleted %d; want not cut, 3 deleted", rep.Cut, rep.Deleted)
	}
	lags := figure(metrics.ExpiryLag)
	if lags.Count-lagsBefore.Count != 3 || lags.Max < 2000 {
		t.Errorf("expiry lag figures: %+v (before %+v), want 3 more, the largest at least 2000 ms", lags, lagsBefore)
	}
	// A generous budget is not cut.
	if rep := e.sweep(t, sw, t0.Add(ka+3*time.Second)); rep.Cut {
		t.Errorf("an idle run was cut")
	}
}

func figure(name string) metrics.Figure {
	for _, f := range metrics.Default.Snapshot(time.Now()).Metrics {
		if f.Name == name && len(f.Dimensions) == 0 {
			return f
		}
	}
	return metrics.Figure{}
}
