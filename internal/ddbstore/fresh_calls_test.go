package ddbstore

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

// TestFreshCallsNeverOlderThanTheCall holds a read under way, calls for the same key from five
// callers meanwhile (one of which gives up): none of them gets the read under way, the four
// that wait share one read started after it ended, and a caller alone afterwards reads again.
func TestFreshCallsNeverOlderThanTheCall(t *testing.T) {
	var f freshCalls[string, int]
	var mu sync.Mutex
	reads := 0
	release := map[int]chan struct{}{}
	started := make(chan int, 10)
	gate := func(n int) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if release[n] == nil {
			release[n] = make(chan struct{})
		}
		return release[n]
	}
	read := func(context.Context) (int, error) {
		mu.Lock()
		reads++
		n := reads
		mu.Unlock()
		started <- n
		<-gate(n)
		return n, nil
	}

	first := make(chan int, 1)
	go func() {
		v, _ := f.do(context.Background(), "b", read)
		first <- v
	}()
	if n := <-started; n != 1 {
		t.Fatalf("the first read is number %d", n)
	}
	// The read under way began before these callers: they must not get it.
	late := make(chan int, 4)
	for range 4 {
		go func() {
			v, err := f.do(context.Background(), "b", read)
			if err != nil {
				t.Error(err)
			}
			late <- v
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := f.do(ctx, "b", read)
		gaveUp <- err
	}()
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller that gave up got %v", err)
	}
	waitQueued(t, &f, "b", 5)
	close(gate(1))
	if v := <-first; v != 1 {
		t.Errorf("the first caller got read %d", v)
	}
	if n := <-started; n != 2 {
		t.Fatalf("the queued read is number %d", n)
	}
	close(gate(2))
	for range 4 {
		if v := <-late; v != 2 {
			t.Errorf("a caller during read 1 got read %d, want 2 (one read started after it, shared)", v)
		}
	}
	close(gate(3))
	if v, _ := f.do(context.Background(), "b", read); v != 3 {
		t.Errorf("a caller alone afterwards got read %d, want a read of its own (3)", v)
	}
	if reads != 3 {
		t.Errorf("%d reads, want 3", reads)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.keys) != 0 {
		t.Errorf("keys left: %v", f.keys)
	}
}

// waitQueued waits until key has a read queued behind the one under way, with n callers.
func waitQueued(t *testing.T, f *freshCalls[string, int], key string, n int) {
	t.Helper()
	for {
		f.mu.Lock()
		k := f.keys[key]
		ok := k != nil && k.queued != nil && k.queued.callers == n
		f.mu.Unlock()
		if ok {
			return
		}
		if t.Context().Err() != nil {
			t.Fatal("no read queued")
		}
		runtime.Gosched()
	}
}
