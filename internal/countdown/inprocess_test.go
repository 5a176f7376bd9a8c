package countdown_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"wspolicy/internal/countdown"
	"wspolicy/internal/policy"
)

// fired is one call of the fire function: what, for whom, and when after the recorder began.
type fired struct {
	id, action string
	after      time.Duration
}

// recorder is a fire function that records its calls; answer, when set, decides each call's
// result.
type recorder struct {
	start  time.Time
	mu     sync.Mutex
	calls  []fired
	answer func(id, action string, n int) error // n: earlier calls for that id and action
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

func (r *recorder) fire(_ context.Context, id, action string) error {
	r.mu.Lock()
	n := 0
	for _, c := range r.calls {
		if c.id == id && c.action == action {
			n++
		}
	}
	r.calls = append(r.calls, fired{id: id, action: action, after: time.Since(r.start)})
	answer := r.answer
	r.mu.Unlock()
	if answer != nil {
		return answer(id, action, n)
	}
	return nil
}

func (r *recorder) got() []fired {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fired(nil), r.calls...)
}

// waitIdle waits until tm has no countdown left, at most d.
func waitIdle(t *testing.T, tm *countdown.InProcess, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for tm.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("countdowns still pending after %v: %d", d, tm.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// slack is how late a timer may fire on a busy machine: wide enough for a loaded CI runner,
// narrow enough to catch a timer that waits for the wrong moment (a poll, the next retry).
// The waits for the timers to finish (waitIdle) are deadlines for a condition, not delays.
const slack = time.Second

func TestInProcessFiresAtTheRightTimes(t *testing.T) {
	type want struct {
		action string
		at     time.Duration
	}
	tests := []struct {
		name            string
		clockAhead      bool // a fixed clock that does not move: due times are measured once, at Start
		warnIn, limitIn time.Duration
		noWarning       bool
		want            []want
	}{
		{name: "3 s limit: warning at 1.5 s, expiry at 3 s", warnIn: 1500 * time.Millisecond, limitIn: 3 * time.Second,
			want: []want{{countdown.ActionWarn, 1500 * time.Millisecond}, {countdown.ActionExpire, 3 * time.Second}}},
		{name: "fake clock", clockAhead: true, warnIn: 200 * time.Millisecond, limitIn: 400 * time.Millisecond,
			want: []want{{countdown.ActionWarn, 200 * time.Millisecond}, {countdown.ActionExpire, 400 * time.Millisecond}}},
		{name: "warning already sent", noWarning: true, limitIn: 300 * time.Millisecond,
			want: []want{{countdown.ActionExpire, 300 * time.Millisecond}}},
		{name: "times already past fire at once, in order", warnIn: -2 * time.Second, limitIn: -time.Second,
			want: []want{{countdown.ActionWarn, 0}, {countdown.ActionExpire, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var clock policy.Clock = policy.SystemClock{}
			if tc.clockAhead {
				clock = &policy.FixedClock{T: t0}
			}
			rec := newRecorder()
			tm := countdown.NewInProcess(clock, rec.fire)
			defer tm.Close()
			now := clock.Now()
			var warnAt time.Time
			if !tc.noWarning {
				warnAt = now.Add(tc.warnIn)
			}
			if err := tm.Start(context.Background(), "s1", warnAt, now.Add(tc.limitIn)); err != nil {
				t.Fatal(err)
			}
			if !tm.Pending("s1") {
				t.Errorf("Pending after Start: got false, want true")
			}
			waitIdle(t, tm, tc.limitIn+30*time.Second)
			got := rec.got()
			if len(got) != len(tc.want) {
				t.Fatalf("calls: got %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.id != "s1" || g.action != w.action {
					t.Errorf("call %d: got %s %s, want s1 %s", i, g.id, g.action, w.action)
				}
				if g.after < w.at-5*time.Millisecond || g.after > w.at+slack {
					t.Errorf("call %d (%s): fired after %v, want %v (+%v)", i, g.action, g.after, w.at, slack)
				}
			}
		})
	}
}

// TestInProcessStop stops a countdown before its warning, and after its warning fired but
// before its expiry: nothing more fires. It waits for conditions, not for delays: the stop
// follows the start (or the warning) at once, and the warning and the expiry are seconds apart,
// so a loaded machine can only make the test pass late, never fail.
func TestInProcessStop(t *testing.T) {
	tests := []struct {
		name      string
		afterWarn bool
		want      []string
	}{
		{name: "before the warning", want: nil},
		{name: "between warning and expiry", afterWarn: true, want: []string{countdown.ActionWarn}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			tm := countdown.NewInProcess(nil, rec.fire)
			defer tm.Close()
			now := time.Now()
			warnAt, expireAt := now.Add(2*time.Second), now.Add(4*time.Second)
			if tc.afterWarn {
				warnAt = now.Add(100 * time.Millisecond)
			}
			if err := tm.Start(context.Background(), "s1", warnAt, expireAt); err != nil {
				t.Fatal(err)
			}
			if tc.afterWarn {
				for len(rec.got()) == 0 {
					if time.Since(now) > time.Minute {
						t.Fatal("the warning never fired")
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			if err := tm.Stop(context.Background(), "s1"); err != nil {
				t.Fatal(err)
			}
			if tm.Pending("s1") {
				t.Errorf("Pending after Stop: got true, want false")
			}
			// Past the expiry: a countdown that was not stopped would have fired it by now.
			time.Sleep(time.Until(expireAt.Add(500 * time.Millisecond)))
			var got []string
			for _, c := range rec.got() {
				got = append(got, c.action)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("actions: got %v, want %v", got, tc.want)
			}
			if err := tm.Stop(context.Background(), "s1"); err != nil {
				t.Errorf("second Stop: got %v, want nil", err)
			}
		})
	}
}

func TestInProcessRestartReplaces(t *testing.T) {
	rec := newRecorder()
	tm := countdown.NewInProcess(nil, rec.fire)
	defer tm.Close()
	now := time.Now()
	for _, limit := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		if err := tm.Start(context.Background(), "s1", time.Time{}, now.Add(limit)); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, tm, 30*time.Second)
	got := rec.got()
	if len(got) != 1 || got[0].action != countdown.ActionExpire || got[0].after < 190*time.Millisecond {
		t.Errorf("calls: got %v, want one expiry at the second start's limit (200ms)", got)
	}
}

func TestInProcessRetries(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(id, action string, n int) error
		wantCalls []string
		wantLast  time.Duration // the last call at least this late
	}{
		{
			name: "fired early: retried when due",
			answer: func(_, action string, n int) error {
				if action == countdown.ActionExpire && n == 0 {
					now := time.Now()
					return &countdown.NotDueError{Action: action, Now: now, Due: now.Add(300 * time.Millisecond)}
				}
				return nil
			},
			wantCalls: []string{countdown.ActionExpire, countdown.ActionExpire},
			wantLast:  300 * time.Millisecond,
		},
		{
			name: "failure: retried after a second",
			answer: func(_, _ string, n int) error {
				if n == 0 {
					return errors.New("table unavailable")
				}
				return nil
			},
			wantCalls: []string{countdown.ActionExpire, countdown.ActionExpire},
			wantLast:  time.Second,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder()
			rec.answer = tc.answer
			tm := countdown.NewInProcess(nil, rec.fire)
			defer tm.Close()
			if err := tm.Start(context.Background(), "s1", time.Time{}, time.Now()); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, tm, 30*time.Second)
			got := rec.got()
			var actions []string
			for _, c := range got {
				actions = append(actions, c.action)
			}
			if fmt.Sprint(actions) != fmt.Sprint(tc.wantCalls) {
				t.Fatalf("calls: got %v, want %v", actions, tc.wantCalls)
			}
			if last := got[len(got)-1].after; last < tc.wantLast || last > tc.wantLast+slack {
				t.Errorf("retry: got %v after start, want %v (+%v)", last, tc.wantLast, slack)
			}
		})
	}
}

// TestInProcessConcurrent starts and stops many countdowns from many goroutines (run with
// -race): exactly the ones not stopped fire, each once per action.
func TestInProcessConcurrent(t *testing.T) {
	rec := newRecorder()
	tm := countdown.NewInProcess(nil, rec.fire)
	defer tm.Close()
	const n = 200
	now := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("s%03d", i)
			if err := tm.Start(context.Background(), id, now.Add(100*time.Millisecond), now.Add(200*time.Millisecond)); err != nil {
				t.Error(err)
			}
			if i%2 == 1 {
				if err := tm.Stop(context.Background(), id); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	waitIdle(t, tm, 30*time.Second)
	count := map[string]int{}
	for _, c := range rec.got() {
		count[c.id+" "+c.action]++
	}
	for i := range n {
		id := fmt.Sprintf("s%03d", i)
		want := 1
		if i%2 == 1 {
			want = 0
		}
		for _, a := range []string{countdown.ActionWarn, countdown.ActionExpire} {
			if got := count[id+" "+a]; got != want {
				t.Errorf("%s %s: fired %d times, want %d", id, a, got, want)
			}
		}
	}
}

func TestInProcessClose(t *testing.T) {
	release := make(chan struct{})
	var inFlight sync.WaitGroup
	inFlight.Add(1)
	var ended bool
	tm := countdown.NewInProcess(nil, func(ctx context.Context, _, _ string) error {
		inFlight.Done()
		<-ctx.Done() // Close cancels the action in flight
		<-release
		ended = true
		return ctx.Err()
	})
	if err := tm.Start(context.Background(), "s1", time.Time{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	inFlight.Wait()
	closed := make(chan struct{})
	go func() { tm.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while an action was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	if !ended {
		t.Error("Close returned before the action in flight ended")
	}
	if err := tm.Start(context.Background(), "s2", time.Time{}, time.Now()); err == nil {
		t.Error("Start after Close: got nil, want an error")
	}
}
