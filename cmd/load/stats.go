package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxErrorSamples bounds the error messages kept per route (the counts stay exact).
const maxErrorSamples = 5

// routeStats are the figures of one route in one phase.
type routeStats struct {
	durations []time.Duration
	errors    int
	samples   []string
}

// recorder collects the latency and errors of every request, by phase and route.
type recorder struct {
	mu     sync.Mutex
	phases map[string]map[string]*routeStats
}

func newRecorder() *recorder { return &recorder{phases: map[string]map[string]*routeStats{}} }

func (r *recorder) add(phase, route string, d time.Duration, errMsg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	routes := r.phases[phase]
	if routes == nil {
		routes = map[string]*routeStats{}
		r.phases[phase] = routes
	}
	s := routes[route]
	if s == nil {
		s = &routeStats{}
		routes[route] = s
	}
	s.durations = append(s.durations, d)
	if errMsg != "" {
		s.errors++
		if len(s.samples) < maxErrorSamples {
			s.samples = append(s.samples, errMsg)
		}
	}
}

// errors is the number of failed requests of every phase.
func (r *recorder) errors() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, routes := range r.phases {
		for _, s := range routes {
			n += s.errors
		}
	}
	return n
}

// row is one line of a phase's table.
type row struct {
	Route         string
	Count, Errors int
	Rate          float64
	P50, P99, Max time.Duration
	ErrorSamples  []string
}

// rows summarises a phase that lasted elapsed, routes sorted by name, with a total line.
func (r *recorder) rows(phase string, elapsed time.Duration) []row {
	r.mu.Lock()
	defer r.mu.Unlock()
	routes := r.phases[phase]
	names := make([]string, 0, len(routes))
	for n := range routes {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []row
	var all []time.Duration
	errs := 0
	for _, n := range names {
		s := routes[n]
		out = append(out, summarise(n, s.durations, s.errors, elapsed, s.samples))
		all = append(all, s.durations...)
		errs += s.errors
	}
	return append(out, summarise("total", all, errs, elapsed, nil))
}

func summarise(route string, ds []time.Duration, errs int, elapsed time.Duration, samples []string) row {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	q := func(p float64) time.Duration {
		if len(sorted) == 0 {
			return 0
		}
		i := int(p*float64(len(sorted))+0.5) - 1
		return sorted[min(max(i, 0), len(sorted)-1)]
	}
	rw := row{Route: route, Count: len(ds), Errors: errs, P50: q(0.50), P99: q(0.99), ErrorSamples: samples}
	if len(sorted) > 0 {
		rw.Max = sorted[len(sorted)-1]
	}
	if elapsed > 0 {
		rw.Rate = float64(len(ds)) / elapsed.Seconds()
	}
	return rw
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// printTable writes a phase's rows as a table.
func printTable(w io.Writer, title string, rows []row) {
	fmt.Fprintf(w, "\n%s\n", title)
	fmt.Fprintf(w, "%-44s %8s %8s %8s %8s %8s %7s\n", "route", "requests", "per s", "p50 ms", "p99 ms", "max ms", "errors")
	fmt.Fprintln(w, strings.Repeat("-", 97))
	for _, r := range rows {
		if r.Route == "total" {
			fmt.Fprintln(w, strings.Repeat("-", 97))
		}
		fmt.Fprintf(w, "%-44s %8d %8.1f %8s %8s %8s %7d\n", r.Route, r.Count, r.Rate, ms(r.P50), ms(r.P99), ms(r.Max), r.Errors)
	}
	for _, r := range rows {
		for _, s := range r.ErrorSamples {
			fmt.Fprintf(w, "  error on %s: %s\n", r.Route, s)
		}
	}
}
