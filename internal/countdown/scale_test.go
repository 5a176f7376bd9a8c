package countdown_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"wspolicy/internal/countdown"
	"wspolicy/internal/policy"
)

// fastRecorder records fire calls in O(1) each (recorder counts earlier calls, O(n) each).
type fastRecorder struct {
	start time.Time
	mu    sync.Mutex
	calls []fired
}

func (r *fastRecorder) fire(_ context.Context, id, action string) error {
	at := time.Since(r.start)
	r.mu.Lock()
	r.calls = append(r.calls, fired{id: id, action: action, after: at})
	r.mu.Unlock()
	return nil
}

// TestInProcessHoldsTenThousand is issue 16's part 4 locally: 10,000 time-limited sessions
// started within one minute, their countdowns held at once by the in-process timer, each
// firing its warning and its expiry exactly once and in order. Time is compressed: the
// minute of starts is spread over 2 s of due times (a fixed clock, so that every due time is
// measured at Start), the first limit 6 s after the first start and every warning 1 s before
// its limit.
func TestInProcessHoldsTenThousand(t *testing.T) {
	const n = 10_000
	clock := &policy.FixedClock{T: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	rec := &fastRecorder{start: time.Now()}
	tm := countdown.NewInProcess(clock, rec.fire)
	defer tm.Close()
	const spread = 2 * time.Second
	limits := make(map[string]time.Duration, n)
	for i := range n {
		id := fmt.Sprintf("s%05d", i)
		limitIn := 6*time.Second + time.Duration(i)*spread/n
		limits[id] = limitIn
		if err := tm.Start(t.Context(), id, clock.T.Add(limitIn-time.Second), clock.T.Add(limitIn)); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Since(rec.start)
	// Nothing is due before 5 s: unless starting took that long, all are held at once.
	if got := tm.Len(); got != n && time.Since(rec.start) < 5*time.Second {
		t.Errorf("%d countdowns pending after the starts, want %d", got, n)
	}
	waitIdle(t, tm, 2*time.Minute)
	rec.mu.Lock()
	calls := slices.Clone(rec.calls)
	rec.mu.Unlock()
	if len(calls) != 2*n {
		t.Fatalf("%d actions fired, want %d (a warning and an expiry each)", len(calls), 2*n)
	}
	seen := map[string][]string{}
	var late []time.Duration
	for _, c := range calls {
		seen[c.id] = append(seen[c.id], c.action)
		due := limits[c.id]
		if c.action == countdown.ActionWarn {
			due -= time.Second
		}
		if c.after < due {
			t.Errorf("%s %s fired %v after the start, before its due time %v", c.id, c.action, c.after, due)
		}
		late = append(late, c.after-due)
	}
	for id := range limits {
		if got := seen[id]; !slices.Equal(got, []string{countdown.ActionWarn, countdown.ActionExpire}) {
			t.Errorf("%s fired %v, want one warning then one expiry", id, got)
		}
	}
	slices.Sort(late)
	p99 := late[len(late)*99/100]
	t.Logf("%d countdowns started in %v; fired %d actions, lateness p50 %v, p99 %v, max %v",
		n, started, len(calls), late[len(late)/2], p99, late[len(late)-1])
	if p99 > 5*slack {
		t.Errorf("lateness p99 %v, want at most %v", p99, 5*slack)
	}
}
