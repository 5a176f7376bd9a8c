// Package faultinject injects faults into AWS SDK (v2) calls, to test how the service behaves
// when DynamoDB or EventBridge throttles, fails or times out. An Injector is a smithy middleware
// added to a client's APIOptions: for each attempt of an operation it draws from a seeded random
// source and, at the configured rate, answers with a fault instead of (or after) sending the
// request. Errors are produced as the real service produces them — an HTTP error response that
// the SDK's own deserializer turns into its typed error (ThrottlingException,
// ProvisionedThroughputExceededException, InternalServerError, a cancelled transaction) — so the
// SDK's retryer and the service's error mapping see exactly what they would see in AWS.
// Every injected fault is counted.
package faultinject

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/smithy-go/middleware"
)

// Fault is a kind of failure the Injector can inject.
type Fault string

// The faults.
const (
	// Throttle answers with the service's throttling error: for DynamoDB ThrottlingException or
	// ProvisionedThroughputExceededException (HTTP 400), and for TransactWriteItems also a
	// TransactionCanceledException whose reasons say ThrottlingError; for EventBridge
	// ThrottlingException.
	Throttle Fault = "throttle"
	// ServerError answers with HTTP 500: DynamoDB's InternalServerError, EventBridge's
	// InternalException.
	ServerError Fault = "server_error"
	// Timeout makes the attempt time out after Rule.Delay: before the request reaches the
	// service (nothing done), or — with probability Rule.AfterSend — after the service did the
	// work, so the response is lost. When the caller's context ends first, the attempt fails
	// with the context's error, as the SDK's HTTP client reports it.
	Timeout Fault = "timeout"
	// Reset breaks the connection (connection reset by peer): before the request reaches the
	// service, or — with probability Rule.AfterSend — while the answer is read, after the
	// service did the work.
	Reset Fault = "reset"
	// Slow delays the attempt by Rule.Delay and then lets it through.
	Slow Fault = "slow"
	// PartialFailure (PutEvents only) lets the call succeed but fails single entries, each
	// with probability Rule.Rate, as EventBridge does: the failed entries are not sent and
	// come back with an ErrorCode. It is drawn per call, not per attempt.
	PartialFailure Fault = "partial_failure"
)

// DefaultFaults are the faults drawn when a Rule names none.
var DefaultFaults = []Fault{Throttle, ServerError, Timeout, Reset}

// DefaultDelay is the delay of Timeout and Slow faults when a Rule sets none.
const DefaultDelay = 20 * time.Millisecond

// Rule says which faults an operation gets and how often.
type Rule struct {
	// Rate is the probability that an attempt gets a fault, 0 to 1.
	Rate float64
	// Faults are drawn from uniformly; nil means DefaultFaults. PartialFailure in the list
	// applies to PutEvents only and is drawn independently of the others.
	Faults []Fault
	// AfterSend is the probability that a Timeout or Reset happens after the service did the
	// work.
	AfterSend float64
	// Delay is how long a Timeout or Slow fault waits; zero means DefaultDelay.
	Delay time.Duration
}

// Config configures an Injector.
type Config struct {
	// Seed seeds the random source, so a single-goroutine run injects the same faults again.
	Seed uint64
	// Default is the rule of every operation Operations does not name.
	Default Rule
	// Operations holds per-operation rules, keyed by operation name ("TransactWriteItems",
	// "PutEvents") or by service and operation ("DynamoDB.UpdateItem"), the latter first.
	Operations map[string]Rule
}

// Injector injects faults into the calls of the clients it is added to. It is safe for
// concurrent use; the same Injector may serve several clients.
type Injector struct {
	cfg     Config
	enabled atomic.Bool

	mu  sync.Mutex
	rng *rand.Rand

	planMu  sync.Mutex
	planned map[string][]Planned

	statsMu  sync.Mutex
	attempts map[string]int64
	injected map[string]map[Fault]int64
	codes    map[string]int64
}

// New returns an enabled Injector.
func New(cfg Config) *Injector {
	in := &Injector{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		attempts: map[string]int64{},
		injected: map[string]map[Fault]int64{},
		codes:    map[string]int64{},
		planned:  map[string][]Planned{},
	}
	in.enabled.Store(true)
	return in
}

// SetEnabled turns injection on or off; calls made while it is off pass untouched (and are
// still counted as attempts).
func (in *Injector) SetEnabled(on bool) { in.enabled.Store(on) }

// Enabled reports whether faults are being injected.
func (in *Injector) Enabled() bool { return in.enabled.Load() }

// AddTo adds the injector's middleware to an SDK middleware stack; pass it in a client's
// APIOptions.
func (in *Injector) AddTo(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(&callMiddleware{in: in}, middleware.After); err != nil {
		return err
	}
	// Last in the deserialize step: right before the transport, inside the SDK's retry loop
	// (finalize step), below the operation's deserializer, which decodes the faked response.
	return stack.Deserialize.Add(&attemptMiddleware{in: in}, middleware.After)
}

// DynamoDB adds the injector to a DynamoDB client's options.
func (in *Injector) DynamoDB(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, in.AddTo)
}

// EventBridge adds the injector to an EventBridge client's options.
func (in *Injector) EventBridge(o *eventbridge.Options) {
	o.APIOptions = append(o.APIOptions, in.AddTo)
}

// Planned is a fault planned for one attempt (see Plan).
type Planned struct {
	// Fault is Throttle, ServerError, Timeout, Reset or Slow.
	Fault Fault
	// AfterSend makes a Timeout or Reset happen after the service did the work.
	AfterSend bool
	// Code picks the error of a Throttle: ThrottlingException,
	// ProvisionedThroughputExceededException or (TransactWriteItems)
	// TransactionCanceledException; "" draws one.
	Code string
	// Delay is the wait of a Timeout or Slow fault; zero means DefaultDelay.
	Delay time.Duration
}

// Plan queues faults for the next attempts of an operation, named as in Config.Operations
// ("TransactWriteItems" or "DynamoDB.TransactWriteItems"): the first matching attempt gets the
// first fault, and so on. Planned faults come before drawn ones and are injected whether or
// not injection is enabled, so a test can script an exact sequence of failures.
func (in *Injector) Plan(op string, faults ...Planned) {
	in.planMu.Lock()
	defer in.planMu.Unlock()
	in.planned[op] = append(in.planned[op], faults...)
}

// nextPlanned takes the next planned fault of an operation, if any.
func (in *Injector) nextPlanned(service, op string) (Planned, bool) {
	in.planMu.Lock()
	defer in.planMu.Unlock()
	for _, k := range []string{service + "." + op, op} {
		if q := in.planned[k]; len(q) > 0 {
			in.planned[k] = q[1:]
			return q[0], true
		}
	}
	return Planned{}, false
}

// rule is the rule of one operation.
func (in *Injector) rule(service, op string) Rule {
	if r, ok := in.cfg.Operations[service+"."+op]; ok {
		return r
	}
	if r, ok := in.cfg.Operations[op]; ok {
		return r
	}
	return in.cfg.Default
}

// float64 draws from the shared random source.
func (in *Injector) float64() float64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rng.Float64()
}

// intN draws from the shared random source.
func (in *Injector) intN(n int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rng.IntN(n)
}

// draw decides the fault of one attempt ("" for none) among the attempt faults of r.
func (in *Injector) draw(r Rule) Fault {
	if !in.Enabled() || r.Rate <= 0 {
		return ""
	}
	faults := r.Faults
	if faults == nil {
		faults = DefaultFaults
	}
	faults = slices.DeleteFunc(slices.Clone(faults), func(f Fault) bool { return f == PartialFailure })
	if len(faults) == 0 || in.float64() >= r.Rate {
		return ""
	}
	return faults[in.intN(len(faults))]
}

func (r Rule) delay() time.Duration {
	if r.Delay > 0 {
		return r.Delay
	}
	return DefaultDelay
}

func (r Rule) has(f Fault) bool { return slices.Contains(r.Faults, f) }

func (in *Injector) countAttempt(key string) {
	in.statsMu.Lock()
	defer in.statsMu.Unlock()
	in.attempts[key]++
}

// count records an injected fault; code is the error code the service was made to answer
// with ("" for none).
func (in *Injector) count(key string, f Fault, code string, n int64) {
	in.statsMu.Lock()
	defer in.statsMu.Unlock()
	m := in.injected[key]
	if m == nil {
		m = map[Fault]int64{}
		in.injected[key] = m
	}
	m[f] += n
	if code != "" {
		in.codes[code] += n
	}
}

// Stats are the injector's counters.
type Stats struct {
	// Attempts counts the attempts seen per "Service.Operation" (a retried call counts once
	// per attempt).
	Attempts map[string]int64
	// Injected counts the faults injected per "Service.Operation".
	Injected map[string]map[Fault]int64
	// Codes counts the injected errors by the error code the service answered with
	// (ThrottlingException, InternalServerError, ...); entries of partial failures included.
	Codes map[string]int64
}

// Stats returns a copy of the counters.
func (in *Injector) Stats() Stats {
	in.statsMu.Lock()
	defer in.statsMu.Unlock()
	s := Stats{Attempts: map[string]int64{}, Injected: map[string]map[Fault]int64{}, Codes: map[string]int64{}}
	for k, v := range in.attempts {
		s.Attempts[k] = v
	}
	for k, m := range in.injected {
		c := map[Fault]int64{}
		for f, n := range m {
			c[f] = n
		}
		s.Injected[k] = c
	}
	for k, v := range in.codes {
		s.Codes[k] = v
	}
	return s
}

// Total is the number of faults f injected over all operations ("" counts every fault).
func (s Stats) Total(f Fault) int64 {
	var n int64
	for _, m := range s.Injected {
		for g, c := range m {
			if f == "" || g == f {
				n += c
			}
		}
	}
	return n
}

// String renders the counters as a small table, one operation a line.
func (s Stats) String() string {
	keys := make([]string, 0, len(s.Attempts))
	for k := range s.Attempts {
		keys = append(keys, k)
	}
	for k := range s.Injected {
		if _, ok := s.Attempts[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%-32s %9s %9s %9s %9s %9s %9s %9s\n", "operation", "attempts", "throttle", "5xx", "timeout", "reset", "slow", "partial")
	for _, k := range keys {
		m := s.Injected[k]
		fmt.Fprintf(&b, "%-32s %9d %9d %9d %9d %9d %9d %9d\n", k, s.Attempts[k],
			m[Throttle], m[ServerError], m[Timeout], m[Reset], m[Slow], m[PartialFailure])
	}
	codes := make([]string, 0, len(s.Codes))
	for c := range s.Codes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, "  %s: %d\n", c, s.Codes[c])
	}
	return b.String()
}

// opKey names an operation in the counters.
func opKey(ctx context.Context) (service, op, key string) {
	service, op = middleware.GetServiceID(ctx), middleware.GetOperationName(ctx)
	return service, op, service + "." + op
}
