// Package metrics counts the control plane's operational figures — keepalives, session starts
// and ends by reason, sweep duration and expiry lag, countdown drift, publish failures — in a
// process-wide registry. The Lambda functions write what they counted after each invocation as
// CloudWatch embedded-metric-format (EMF) log lines (WriteEMF, FlushAfter), which CloudWatch
// turns into metrics without any API call or permission; the local server serves the totals at
// GET /v1/metrics and logs them after each sweep (Snapshot).
package metrics

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"sort"
	"sync"
	"time"
)

// Metric names. The dimension each is split by, if any, is noted.
const (
	Keepalives      = "Keepalives"      // accepted keepalives
	SessionsStarted = "SessionsStarted" // session created events published
	SessionsEnded   = "SessionsEnded"   // session deleted events published, by Reason
	SweepDuration   = "SweepDuration"   // ms per sweep run
	SweepsCut       = "SweepsCut"       // sweep runs stopped by their time budget, work left for the next
	ExpiryLag       = "ExpiryLag"       // ms from a session's keepalive expiry to the sweep ending it
	CountdownDrift  = "CountdownDrift"  // ms from a warning's or limit's due time to the countdown acting, by Action
	PublishFailures = "PublishFailures" // stream records the publisher could not complete
)

// Dimension names.
const (
	DimReason = "Reason"
	DimAction = "Action"
)

// Units (CloudWatch's names).
const (
	UnitCount        = "Count"
	UnitMilliseconds = "Milliseconds"
)

// DefaultNamespace is the CloudWatch namespace when METRICS_NAMESPACE is unset.
const DefaultNamespace = "WsPolicy"

// maxEMFValues is how many values one EMF metric may carry.
const maxEMFValues = 100

// Dim is one dimension of a figure.
type Dim struct{ Name, Value string }

type key struct {
	name, unit string
	dim        Dim
}

type agg struct {
	count         int64
	sum, min, max float64
	values        []float64 // pending only: each observation, for EMF
}

func (a *agg) add(v float64, keep bool) {
	if a.count == 0 || v < a.min {
		a.min = v
	}
	if a.count == 0 || v > a.max {
		a.max = v
	}
	a.count++
	a.sum += v
	if keep {
		a.values = append(a.values, v)
	}
}

// Registry holds the figures: totals since it was made, and what is pending for the next EMF
// flush.
type Registry struct {
	mu      sync.Mutex
	since   time.Time
	totals  map[key]*agg
	pending map[key]*agg
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{since: time.Now().UTC(), totals: map[key]*agg{}, pending: map[key]*agg{}}
}

// Default is the process's registry, which the instrumented packages record into.
var Default = New()

// Count adds n to the counter name (with at most one dimension) of the default registry.
func Count(name string, n float64, dims ...Dim) { Default.Observe(name, UnitCount, n, dims...) }

// Millis records a duration in milliseconds under name in the default registry.
func Millis(name string, d time.Duration, dims ...Dim) {
	Default.Observe(name, UnitMilliseconds, float64(d)/float64(time.Millisecond), dims...)
}

// Observe records value v of the metric name in unit. A counter's observations are its
// increments.
func (r *Registry) Observe(name, unit string, v float64, dims ...Dim) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	k := key{name: name, unit: unit}
	if len(dims) > 0 {
		k.dim = dims[0]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	get := func(m map[key]*agg) *agg {
		a := m[k]
		if a == nil {
			a = &agg{}
			m[k] = a
		}
		return a
	}
	get(r.totals).add(v, false)
	// EMF carries each value of a distribution; a counter's increments are summed.
	get(r.pending).add(v, unit != UnitCount)
}

// Figure is one metric's total in a Snapshot.
type Figure struct {
	Name       string            `json:"name"`
	Unit       string            `json:"unit"`
	Dimensions map[string]string `json:"dimensions"`
	// Count is the number of observations (for a counter, of increments); Sum their total
	// (for a counter, its value); Min and Max the extremes.
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
}

// Snapshot is every figure since the registry was made.
type Snapshot struct {
	Since   time.Time `json:"since"`
	Now     time.Time `json:"now"`
	Metrics []Figure  `json:"metrics"`
}

// Snapshot returns the totals, sorted by name and dimension.
func (r *Registry) Snapshot(now time.Time) Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{Since: r.since, Now: now.UTC(), Metrics: []Figure{}}
	for k, a := range r.totals {
		dims := map[string]string{}
		if k.dim.Name != "" {
			dims[k.dim.Name] = k.dim.Value
		}
		s.Metrics = append(s.Metrics, Figure{Name: k.name, Unit: k.unit, Dimensions: dims,
			Count: a.count, Sum: a.sum, Min: a.min, Max: a.max})
	}
	sort.Slice(s.Metrics, func(i, j int) bool {
		a, b := s.Metrics[i], s.Metrics[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Dimensions[DimReason]+a.Dimensions[DimAction] < b.Dimensions[DimReason]+b.Dimensions[DimAction]
	})
	return s
}

// WriteEMF writes what was recorded since the last call as EMF documents, one JSON line per
// dimension set (more when a metric has over 100 values), each naming function in a
// "function" property, and empties the pending figures. Nothing pending writes nothing.
func (r *Registry) WriteEMF(w io.Writer, namespace, function string, now time.Time) error {
	r.mu.Lock()
	pending := r.pending
	r.pending = map[key]*agg{}
	r.mu.Unlock()
	groups := map[Dim][]key{}
	for k := range pending {
		groups[k.dim] = append(groups[k.dim], k)
	}
	dimsets := make([]Dim, 0, len(groups))
	for d := range groups {
		dimsets = append(dimsets, d)
	}
	sort.Slice(dimsets, func(i, j int) bool { return dimsets[i].Name+dimsets[i].Value < dimsets[j].Name+dimsets[j].Value })
	enc := json.NewEncoder(w)
	for _, d := range dimsets {
		keys := groups[d]
		sort.Slice(keys, func(i, j int) bool { return keys[i].name < keys[j].name })
		for chunk := 0; ; chunk++ {
			doc := map[string]any{"function": function}
			var defs []map[string]string
			for _, k := range keys {
				a := pending[k]
				var v any
				if k.unit == UnitCount {
					if chunk > 0 {
						continue
					}
					v = a.sum
				} else {
					lo := chunk * maxEMFValues
					if lo >= len(a.values) {
						continue
					}
					v = a.values[lo:min(lo+maxEMFValues, len(a.values))]
				}
				doc[k.name] = v
				defs = append(defs, map[string]string{"Name": k.name, "Unit": k.unit})
			}
			if len(defs) == 0 {
				break
			}
			dimNames := []string{}
			if d.Name != "" {
				doc[d.Name] = d.Value
				dimNames = append(dimNames, d.Name)
			}
			doc["_aws"] = map[string]any{
				"Timestamp": now.UnixMilli(),
				"CloudWatchMetrics": []any{map[string]any{
					"Namespace":  namespace,
					"Dimensions": [][]string{dimNames},
					"Metrics":    defs,
				}},
			}
			if err := enc.Encode(doc); err != nil {
				return err
			}
		}
	}
	return nil
}

// Namespace is the CloudWatch namespace from METRICS_NAMESPACE, or DefaultNamespace.
func Namespace() string {
	if ns := os.Getenv("METRICS_NAMESPACE"); ns != "" {
		return ns
	}
	return DefaultNamespace
}

// FlushAfter wraps a Lambda handler: after each invocation it writes the default registry's
// pending figures to w as EMF (the function's log, where CloudWatch extracts them).
func FlushAfter[In, Out any](h func(context.Context, In) (Out, error), w io.Writer, function string) func(context.Context, In) (Out, error) {
	ns := Namespace()
	return func(ctx context.Context, in In) (Out, error) {
		out, err := h(ctx, in)
		_ = Default.WriteEMF(w, ns, function, time.Now())
		return out, err
	}
}
