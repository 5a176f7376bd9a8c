package countdown

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"wspolicy/internal/policy"
)

// FireFunc does a countdown's action ("warn" or "expire") for a session; Task.Fire is one.
type FireFunc func(ctx context.Context, sessionID, action string) error

// In-process retry policy, like the state machine's: a failed action is tried again after 1 s,
// 2 s, 4 s … (at most 30 s apart), six attempts in all; a *NotDueError is tried again when the
// action is due.
const (
	inProcessAttempts    = 6
	inProcessRetryBase   = time.Second
	inProcessRetryMax    = 30 * time.Second
	inProcessFireTimeout = 30 * time.Second
)

// InProcess is a Timer that keeps the countdowns in this process with time.AfterFunc, keyed by
// session id, for the local run. It fires "warn" at the warning time and "expire" at the
// limit, each through the fire function, and retries a failed action a few times. Its
// countdowns die with the process: after a restart, the sweep catches the time limits of
// sessions started before. It is safe for concurrent use.
type InProcess struct {
	clock  policy.Clock
	fire   FireFunc
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[string]*pending
}

// pending is one session's countdown: its remaining steps and the timer of the next one.
type pending struct {
	id      string
	steps   []step
	next    int // index of the step the timer fires
	attempt int // failed attempts of that step so far
	timer   *time.Timer
	ctx     context.Context // cancelled by Stop, so an action in flight is abandoned
	cancel  context.CancelFunc
}

// step is one action and the moment (on the monotonic clock) it is due.
type step struct {
	action string
	at     time.Time
}

// InProcessOption configures an InProcess timer.
type InProcessOption func(*InProcess)

// WithLogger makes InProcess log failed and abandoned actions to l.
func WithLogger(l *slog.Logger) InProcessOption {
	return func(t *InProcess) { t.log = l }
}

// NewInProcess returns an in-process Timer that calls fire when a countdown's action is due.
// Due times are measured against clock when a countdown starts and then waited for on the
// process's monotonic clock. A nil clock is the system clock.
func NewInProcess(clock policy.Clock, fire FireFunc, opts ...InProcessOption) *InProcess {
	if clock == nil {
		clock = policy.SystemClock{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &InProcess{clock: clock, fire: fire, ctx: ctx, cancel: cancel, pending: map[string]*pending{}}
	for _, o := range opts {
		o(t)
	}
	if t.log == nil {
		t.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return t
}

// errClosed is Start's answer after Close.
var errClosed = errors.New("countdown: the in-process timer is closed")

// Start arms a session's countdown, replacing one it may already have. It does not keep ctx:
// the countdown outlives the request that started it.
func (t *InProcess) Start(_ context.Context, sessionID string, warnAt, limitAt time.Time) error {
	if limitAt.IsZero() {
		return errors.New("countdown: start without a limit")
	}
	now, mono := t.clock.Now(), time.Now()
	var steps []step
	if !warnAt.IsZero() && warnAt.Before(limitAt) {
		steps = append(steps, step{action: ActionWarn, at: mono.Add(warnAt.Sub(now))})
	}
	steps = append(steps, step{action: ActionExpire, at: mono.Add(limitAt.Sub(now))})
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errClosed
	}
	if old := t.pending[sessionID]; old != nil {
		old.halt()
	}
	p := &pending{id: sessionID, steps: steps}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	t.pending[sessionID] = p
	t.arm(p, time.Until(steps[0].at))
	return nil
}

// Stop cancels a session's countdown (an action in flight is abandoned); a session without one
// is fine.
func (t *InProcess) Stop(_ context.Context, sessionID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.pending[sessionID]; p != nil {
		p.halt()
		delete(t.pending, sessionID)
	}
	return nil
}

// Pending reports whether a session has a countdown that has not finished.
func (t *InProcess) Pending(sessionID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending[sessionID] != nil
}

// Len is the number of countdowns that have not finished.
func (t *InProcess) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// Close cancels every countdown and waits for actions in flight to return. Start fails
// afterwards.
func (t *InProcess) Close() {
	t.mu.Lock()
	t.closed = true
	for id, p := range t.pending {
		p.halt()
		delete(t.pending, id)
	}
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
}

// Run keeps the timer until ctx is cancelled, then closes it: the shape of a local-run
// component.
func (t *InProcess) Run(ctx context.Context) error {
	<-ctx.Done()
	t.Close()
	return nil
}

func (p *pending) halt() {
	if p.timer != nil {
		p.timer.Stop()
	}
	p.cancel()
}

// arm sets p's timer to fire its next step after d; t.mu is held.
func (t *InProcess) arm(p *pending, d time.Duration) {
	p.timer = time.AfterFunc(max(d, 0), func() { t.run(p) })
}

// run does p's next step, then arms the one after, a retry, or finishes.
func (t *InProcess) run(p *pending) {
	t.mu.Lock()
	if t.pending[p.id] != p {
		t.mu.Unlock()
		return // stopped or restarted meanwhile
	}
	s := p.steps[p.next]
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()

	ctx, cancel := context.WithTimeout(p.ctx, inProcessFireTimeout)
	err := t.fire(ctx, p.id, s.action)
	cancel()

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[p.id] != p {
		return
	}
	if err != nil {
		p.attempt++
		if p.attempt < inProcessAttempts {
			t.arm(p, retryDelay(err, p.attempt))
			return
		}
		// Given up: the sweep catches a missed warning or limit.
		t.log.LogAttrs(context.Background(), slog.LevelWarn, "countdown action abandoned",
			slog.String("session_id", p.id), slog.String("action", s.action),
			slog.Int("attempts", p.attempt), slog.String("error", err.Error()))
	}
	p.next++
	p.attempt = 0
	if p.next == len(p.steps) {
		p.cancel()
		delete(t.pending, p.id)
		return
	}
	t.arm(p, time.Until(p.steps[p.next].at))
}

// retryDelay is when to try a failed action again: when it is due for a *NotDueError, after an
// exponential backoff otherwise.
func retryDelay(err error, attempt int) time.Duration {
	var nd *NotDueError
	if errors.As(err, &nd) {
		return max(nd.Due.Sub(nd.Now), 10*time.Millisecond)
	}
	return min(inProcessRetryBase<<(attempt-1), inProcessRetryMax)
}
