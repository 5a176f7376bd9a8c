package ddbstore

import (
	"context"
	"sync"
	"time"
)

// freshCalls shares calls for one key (a read, or a read and the write it decides) among the
// callers of one process that want one at once, without ever giving a caller a call that began
// before it asked: a caller joins the call that is queued to start next (never one already under
// way, which may have read before the caller's own write committed), and the queued call starts
// when the one under way ends. One caller alone calls as it would without it; N callers arriving
// during one call share the next. It is what keeps a hot budget's ledger from being read once
// per start and checked once more per start when hundreds of starts land on it in the same
// second (docs/design-usage.md, section 10): every start and every deadline check still sees the
// ledger as it stands after it arrived.
//
// The shared call runs on a context of its own (the first caller's values, not its
// cancellation, bounded by freshCallTimeout), so that one caller giving up does not fail the
// others; a caller that gives up stops waiting.
type freshCalls[K comparable, V any] struct {
	mu   sync.Mutex
	keys map[K]*freshKey[V]
}

// freshKey is the state of one key: the call under way (running) and the one queued behind it.
type freshKey[V any] struct {
	running, queued *freshCall[V]
}

// freshCall is one call and its outcome, valid once done is closed.
type freshCall[V any] struct {
	done    chan struct{}
	callers int // how many callers joined it
	v       V
	err     error
}

// freshCallTimeout bounds a shared call (no caller's deadline applies to it).
const freshCallTimeout = 10 * time.Second

// do returns the outcome of call for key, run after do was called.
func (f *freshCalls[K, V]) do(ctx context.Context, key K, call func(context.Context) (V, error)) (V, error) {
	f.mu.Lock()
	if f.keys == nil {
		f.keys = map[K]*freshKey[V]{}
	}
	k := f.keys[key]
	if k == nil {
		k = &freshKey[V]{}
		f.keys[key] = k
	}
	r := k.queued
	switch {
	case r != nil: // join the call queued to start next
	case k.running == nil:
		r = &freshCall[V]{done: make(chan struct{})}
		k.running = r
		go f.run(ctx, key, k, r, nil, call)
	default:
		r = &freshCall[V]{done: make(chan struct{})}
		k.queued = r
		go f.run(ctx, key, k, r, k.running.done, call)
	}
	r.callers++
	f.mu.Unlock()
	select {
	case <-r.done:
		return r.v, r.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// run waits for the call before it (after, nil: none), then calls and hands the outcome over.
func (f *freshCalls[K, V]) run(ctx context.Context, key K, k *freshKey[V], r *freshCall[V], after <-chan struct{}, call func(context.Context) (V, error)) {
	if after != nil {
		<-after
		f.mu.Lock()
		k.running, k.queued = r, nil
		f.mu.Unlock()
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), freshCallTimeout)
	r.v, r.err = call(rctx)
	cancel()
	f.mu.Lock()
	k.running = nil
	if k.queued == nil && f.keys[key] == k {
		delete(f.keys, key)
	}
	f.mu.Unlock()
	close(r.done)
}
