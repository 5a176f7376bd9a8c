package syncbuf

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWrites: lines written by many goroutines at once, read while they write, all
// end up in the buffer whole (each Write is one piece, never interleaved with another), and
// Len agrees with String. Run with -race, it also shows the reads and writes are guarded.
func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			line := []byte(strings.Repeat(string(rune('a'+w)), 31) + "\n")
			for range lines {
				if n, err := b.Write(line); n != len(line) || err != nil {
					t.Errorf("write: %d, %v", n, err)
				}
				_ = b.Len() // reads while others write
			}
		})
	}
	wg.Wait()
	out := b.String()
	if b.Len() != len(out) || len(out) != writers*lines*32 {
		t.Fatalf("Len %d, String %d bytes; want both %d", b.Len(), len(out), writers*lines*32)
	}
	counts := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if len(l) != 31 || strings.Count(l, l[:1]) != 31 {
			t.Fatalf("a line was torn: %q", l)
		}
		counts[l[:1]]++
	}
	for w := range writers {
		if c := counts[string(rune('a'+w))]; c != lines {
			t.Errorf("writer %d: %d lines, want %d", w, c, lines)
		}
	}
	if !bytes.HasSuffix([]byte(out), []byte("\n")) {
		t.Error("the last write's newline is missing")
	}
}
