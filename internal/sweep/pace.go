package sweep

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultResyncWriteUnits is the re-sync's write budget (write units a second) when
// Config.ResyncWriteUnits is 0: the most an on-demand table always serves on top of its
// keepalives without throttling them (it serves at once twice its previous peak, and 4,000
// units a second from the start), and 100,000 live sessions re-synced within 5 minutes even
// when each costs 3 units (docs/capacity.md, "A change that touches everyone").
const DefaultResyncWriteUnits = 2000

// MaxResyncWriteUnits bounds RESYNC_WRITE_UNITS_PER_SECOND: AWS's default per-table write
// throughput limit for on-demand tables.
const MaxResyncWriteUnits = 40_000

// ParseResyncWriteUnits reads the value of RESYNC_WRITE_UNITS_PER_SECOND: empty is 0
// (DefaultResyncWriteUnits), otherwise a whole number from 1 to MaxResyncWriteUnits.
func ParseResyncWriteUnits(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxResyncWriteUnits {
		return 0, fmt.Errorf("RESYNC_WRITE_UNITS_PER_SECOND must be a whole number from 1 to %d, got %q", MaxResyncWriteUnits, v)
	}
	return n, nil
}

// pacer is a token bucket of write units: wait takes units before a write, charge corrects by
// what the write really cost. It holds at most pacerBurst of unused budget, so a pause in the
// re-sync does not let a burst through afterwards.
type pacer struct {
	mu   sync.Mutex
	rate float64 // units a second
	next time.Time
}

// pacerBurst is the unused budget a pacer keeps.
const pacerBurst = 100 * time.Millisecond

func newPacer(unitsPerSecond int) *pacer { return &pacer{rate: float64(unitsPerSecond)} }

func (p *pacer) span(units float64) time.Duration {
	return time.Duration(units / p.rate * float64(time.Second))
}

// wait blocks until units may be spent (or ctx ends).
func (p *pacer) wait(ctx context.Context, units float64) error {
	p.mu.Lock()
	now := time.Now()
	if floor := now.Add(-pacerBurst); p.next.Before(floor) {
		p.next = floor
	}
	at := p.next
	p.next = p.next.Add(p.span(units))
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// charge spends units more (or, negative, gives them back) after the fact.
func (p *pacer) charge(units float64) {
	if units == 0 {
		return
	}
	p.mu.Lock()
	p.next = p.next.Add(p.span(units))
	p.mu.Unlock()
}
