package policy

import (
	"crypto/rand"
	"encoding/base32"
	"regexp"
	"strings"
	"sync"
	"time"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidID reports whether s is a well-formed object id: 1..64 characters of letters, digits,
// '_', '.', '-', not starting with punctuation. Ids are checked before any database call.
func ValidID(s string) bool { return idPattern.MatchString(s) }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a new random id with the given prefix, e.g. NewID("g") = "g_7k3…".
func NewID(prefix string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b))
}

// Clock tells the time; the caller passes one so tests control it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock in UTC.
type SystemClock struct{}

// Now returns the current UTC time.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// FixedClock is a settable clock for tests; it is safe for concurrent use. Set T only before
// sharing the clock; afterwards use Set and Advance.
type FixedClock struct {
	mu sync.Mutex
	T  time.Time
}

// Now returns the clock's time.
func (c *FixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.T
}

// Set moves the clock to t.
func (c *FixedClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.T = t
}

// Advance moves the clock forward by d.
func (c *FixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.T = c.T.Add(d)
}
