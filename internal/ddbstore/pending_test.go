package ddbstore

import (
	"context"
	"errors"
	"testing"
)

// TestPending: wait returns at once when nothing is under way; a waiter is released only when
// the count reaches zero, also when work was added while it waited; a waiter whose context
// ends gets its error.
func TestPending(t *testing.T) {
	var p pending
	if err := p.wait(context.Background()); err != nil {
		t.Fatalf("wait with nothing under way: %v", err)
	}
	p.add()
	released := make(chan error, 1)
	go func() { released <- p.wait(context.Background()) }()
	// The waiter is registered once wait has appended its channel; add more work meanwhile.
	var w chan struct{}
	for w == nil {
		p.mu.Lock()
		if len(p.waiters) == 1 {
			w = p.waiters[0]
		}
		p.mu.Unlock()
	}
	p.add()
	p.done()
	select {
	case <-w: // done closes a waiter's channel before it returns
		t.Fatal("released with one still under way")
	default:
	}
	p.done()
	if err := <-released; err != nil {
		t.Fatalf("wait: %v", err)
	}

	p.add()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait on an ended context: %v, want context.Canceled", err)
	}
	p.done()
	if err := p.wait(context.Background()); err != nil {
		t.Fatalf("wait after all done: %v", err)
	}
}
