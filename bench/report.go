package main

import (
	"fmt"
	"strings"
)

// check is one line of the summary: a figure and, when it has one, its target.
type check struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	Target string `json:"target,omitempty"`
	// Met is nil when the figure has no target.
	Met *bool `json:"met,omitempty"`
}

func met(b bool) *bool { return &b }

// Targets of the keepalive (issue 14).
const (
	maxUnitsPerKeepalive = 1.25
	maxAPICPUMicros      = 120
)

// maxBootstrapBytes is the target size of a bootstrap: 15 MB (decimal, the stricter reading).
const maxBootstrapBytes = 15_000_000

// checks builds the summary from what was measured.
func checks(r *results) []check {
	var cs []check
	if k := r.Keepalive; k != nil {
		cs = append(cs,
			check{Name: "Keepalive through the local API", Result: fmt.Sprintf("%s/s, p50 %s ms, p99 %s ms", thousands(int64(k.API.OpsPerSec)), f2(k.API.Latency.P50), f2(k.API.Latency.P99))},
			check{Name: "Raw single-item UpdateItem, same DynamoDB Local", Result: fmt.Sprintf("%s/s, p50 %s ms, p99 %s ms", thousands(int64(k.Raw.OpsPerSec)), f2(k.Raw.Latency.P50), f2(k.Raw.Latency.P99))},
			check{Name: "Keepalive ÷ raw UpdateItem throughput", Result: fmt.Sprintf("%.0f%% (slices: %s)", 100*k.Ratio, percentRange(k.SliceRatios)), Target: "≥ 70%", Met: met(k.Ratio >= 0.70)},
			check{Name: "… split: keepalive's UpdateItem in process ÷ raw; API ÷ in process", Result: fmt.Sprintf("%.0f%%; %.0f%%", 100*k.Direct.OpsPerSec/max(k.Raw.OpsPerSec, 1), 100*k.API.OpsPerSec/max(k.Direct.OpsPerSec, 1))},
			check{Name: "DynamoDB requests per keepalive", Result: fmt.Sprintf("%.3f", k.RequestsPerKeepalive), Target: "1", Met: met(k.RequestsPerKeepalive > 0 && k.RequestsPerKeepalive < 1.005)},
		)
		if st := k.Steady; st != nil {
			cs = append(cs, check{
				Name:   fmt.Sprintf("Write units per keepalive, steady state (default settings, %.0f simulated h, sweeps' corrections included)", st.Hours),
				Result: fmt.Sprintf("%.3f (keepalives %s; sweeps %s)", st.UnitsPerKeepalive, unitsDetail(st.KeepaliveUnits), unitsDetail(st.SweepUnits)),
				Target: "≤ 1.25", Met: met(st.UnitsPerKeepalive > 0 && st.UnitsPerKeepalive <= maxUnitsPerKeepalive),
			})
		}
		if st := k.SteadyCold; st != nil {
			cs = append(cs, check{
				Name:   "… the same with every keepalive from a process new to the session (Lambda, many instances): the sweeps correct every entry",
				Result: fmt.Sprintf("%.3f (keepalives %s; sweeps %s)", st.UnitsPerKeepalive, unitsDetail(st.KeepaliveUnits), unitsDetail(st.SweepUnits)),
			})
		}
		cs = append(cs,
			check{Name: "… write units per keepalive in the throughput run (in process, same UpdateItem)", Result: fmt.Sprintf("%.3f (%s)", k.DirectUnitsPerKeepalive, unitsDetail(k.DirectUnits))},
			check{Name: "API process CPU per keepalive (its own accounting, /proc/<pid>/stat)", Result: fmt.Sprintf("%.0f µs (%.2f s for %s keepalives)", k.APICPUMicrosPerKeepalive, k.APICPUSeconds, thousands(k.API.Ops)),
				Target: "≤ 120 µs", Met: met(k.APICPUMicrosPerKeepalive > 0 && k.APICPUMicrosPerKeepalive <= maxAPICPUMicros)},
		)
	}
	if s := r.Settings; s != nil && len(s.Levels) > 0 {
		l := s.Levels[len(s.Levels)-1]
		cs = append(cs,
			check{Name: fmt.Sprintf("Effective settings, %d groups: round trips", l.Groups), Result: f1(l.RoundTrips) + fmt.Sprintf(" (API p50 %s ms)", f2(l.API.P50)), Target: "≤ 2", Met: met(l.RoundTrips <= 2)},
			check{Name: fmt.Sprintf("In-memory resolution, %d groups × all settings", l.Groups), Result: fmt.Sprintf("%s µs", f1(float64(l.ResolveNsPerOp)/1000)), Target: "well under 100 µs (bar: ≤ 50 µs)", Met: met(l.ResolveNsPerOp <= 50_000)},
		)
	}
	if s := r.Sweep; s != nil && len(s.Levels) > 1 {
		first, last := s.Levels[0], s.Levels[len(s.Levels)-1]
		cs = append(cs, check{
			Name:   fmt.Sprintf("Sweep of %s due: %s live ÷ %s live", thousands(int64(last.Due)), thousands(int64(last.Live)), thousands(int64(first.Live))),
			Result: fmt.Sprintf("%s× (%s ms ÷ %s ms)", f2(s.Ratio), thousands(last.SweepMs), thousands(first.SweepMs)),
			Target: "≤ 2×", Met: met(s.Ratio <= 2),
		})
	}
	if u := r.Usage; u != nil {
		for _, b := range u.Budgets {
			cs = append(cs, check{
				Name:   fmt.Sprintf("Session start + end, per_group budget of %s", plural(b.Users, "user")),
				Result: fmt.Sprintf("%s + %s requests, %s + %s items written", f1(b.Start.Requests), f1(b.End.Requests), f1(b.Start.ItemsWritten), f1(b.End.ItemsWritten)),
			})
		}
	}
	if pv := r.Preview; pv != nil {
		for _, l := range pv.Levels {
			cs = append(cs, check{Name: fmt.Sprintf("Preview of a keepalive change, group of %s members", thousands(int64(l.Members))),
				Result: fmt.Sprintf("%s requests, %s ms (settings-only change: %s requests, %s ms)", thousands(l.Lifetime.Requests.Requests), f1(l.Lifetime.Ms), thousands(l.Settings.Requests.Requests), f1(l.Settings.Ms))})
		}
	}
	if s := r.SweepScale; s != nil {
		cs = append(cs, massChecks(s)...)
	}
	if l := r.Lambdas; l != nil && len(l.Functions) > 0 {
		biggest := l.Functions[0]
		for _, f := range l.Functions {
			if f.ArmBytes > biggest.ArmBytes {
				biggest = f
			}
		}
		cs = append(cs, check{Name: "Largest arm64 bootstrap", Result: fmt.Sprintf("%s MB (%s)", f1(float64(biggest.ArmBytes)/1e6), biggest.Name), Target: "≤ 15 MB", Met: met(biggest.ArmBytes <= maxBootstrapBytes)})
		for _, f := range l.Functions {
			if f.Name == "api" && len(f.FirstAnswerMs) > 0 {
				cs = append(cs,
					check{Name: "api first answer under aws-lambda-rie (GET /v1/health)", Result: fmt.Sprintf("%s ms (median of %d)", f1(f.FirstAnswerP50), len(f.FirstAnswerMs)), Target: "< 100 ms", Met: met(f.FirstAnswerP50 < 100)},
					check{Name: "… of which waiting on DynamoDB Local (" + f.DBCalls + ")", Result: fmt.Sprintf("%s ms; the rest, the process itself: %s ms", f1(f.DBWaitP50), f1(f.ProcessP50))})
			}
		}
	}
	return cs
}

// table renders a Markdown table.
func table(b *strings.Builder, head []string, rows [][]string) {
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	b.WriteString("\n")
}

// renderMarkdown is results.md: the summary, then each part's detail.
func renderMarkdown(r *results) string {
	var b strings.Builder
	b.WriteString("# Benchmark results\n\n")
	fmt.Fprintf(&b, "Generated by `make bench` (bench/) on %s: %s/%s, %d CPUs, %s, DynamoDB Local in memory. Total run time %s s. ",
		r.StartedAt.Format("2006-01-02 15:04 UTC"), r.Machine.GOOS, r.Machine.GOARCH, r.Machine.CPUs, r.Machine.GoVersion, thousands(int64(r.TotalSeconds+0.5)))
	b.WriteString("Everything runs on one machine: the load generator, the API, the sweeps and DynamoDB Local share its cores, " +
		"so the absolute figures are DynamoDB Local's, not AWS's; the ratios and counts are what the targets are about.\n\n")
	b.WriteString("## Summary\n\n")
	var rows [][]string
	for _, c := range r.Checks {
		ok := ""
		if c.Met != nil {
			ok = "yes"
			if !*c.Met {
				ok = "**no**"
			}
		}
		rows = append(rows, []string{c.Name, c.Result, c.Target, ok})
	}
	table(&b, []string{"measure", "result", "target", "met"}, rows)
	if n := missNotes(r); n != "" {
		b.WriteString("### Targets missed in this run\n\n" + n + "\n")
	}
	if len(r.Failures) > 0 {
		b.WriteString("**Parts that failed:**\n\n")
		for _, f := range r.Failures {
			b.WriteString("- " + f + "\n")
		}
		b.WriteString("\n")
	}
	if k := r.Keepalive; k != nil {
		fmt.Fprintf(&b, "## Keepalive\n\nThe three figures of issue 14: write units per keepalive (steady state) **%.3f** (target ≤ 1.25); keepalive ÷ raw UpdateItem throughput **%.0f%%** (target ≥ 70%%; slices %s); API process CPU **%.0f µs** per keepalive (target ≤ 120 µs).\n\n",
			k.steadyUnits(), 100*k.Ratio, percentRange(k.SliceRatios), k.APICPUMicrosPerKeepalive)
		fmt.Fprintf(&b, "%d concurrent clients, %s s per run, each client keeping its own session alive (started through the API; user keys, so the ownership condition applies). "+
			"Raw: `UpdateItem SET bench_touch = :now` on the same session items, no condition, no returned values. Direct: ddbstore's keepalive (the conditional UpdateItem, UPDATED_NEW) called in process. "+
			"API: `POST /v1/sessions/{id}/keepalive` over HTTP/1.1 keep-alive connections to the API on 127.0.0.1, served by a process of its own (the bench's executable started again) so that the kernel's CPU accounting of that process is the API's alone; the request log line is built and discarded.\n\n", k.Clients, f1(k.DurationS))
		var rows [][]string
		for _, x := range []struct {
			name string
			r    loadResult
		}{{"raw UpdateItem", k.Raw}, {"store keepalive, in process", k.Direct}, {"API keepalive", k.API}, {"API keepalive, key cache off", k.NoKeyCache}} {
			rows = append(rows, []string{x.name, thousands(x.r.Ops), thousands(int64(x.r.OpsPerSec)), f2(x.r.Latency.P50), f2(x.r.Latency.P99), thousands(x.r.Errors)})
		}
		table(&b, []string{"path", "operations", "per second", "p50 ms", "p99 ms", "errors"}, rows)
		fmt.Fprintf(&b, "API ÷ raw = %.0f%% = (in process ÷ raw = %.0f%%: what DynamoDB Local spends more on the keepalive's conditional UpdateItem, its condition and the returned item) × (API ÷ in process = %.0f%%: the HTTP hop, authentication, routing, the log line, on the same two cores as DynamoDB Local). ",
			100*k.Ratio, 100*k.Direct.OpsPerSec/max(k.Raw.OpsPerSec, 1), 100*k.API.OpsPerSec/max(k.Direct.OpsPerSec, 1))
		fmt.Fprintf(&b, "DynamoDB requests during the API runs: %s for %s keepalives (%s) = %.3f per keepalive. "+
			"With the key cache off (every key read, as on AWS when one client's keepalives, 300 s apart by default, outlive the cache's 60 s at most or reach another instance): %.3f requests per keepalive, %.0f%% of raw.\n\n",
			thousands(k.APIRequests.Requests), thousands(k.API.Ops), k.APIRequests.operations(), k.RequestsPerKeepalive,
			k.NoKeyCacheRequests, 100*k.NoKeyCache.OpsPerSec/max(k.Raw.OpsPerSec, 1))
		fmt.Fprintf(&b, "One client at a time (no queueing), %d each: API keepalive p50 %s ms, p99 %s ms; raw UpdateItem p50 %s ms, p99 %s ms.\n\n",
			k.Unloaded.N, f2(k.Unloaded.P50), f2(k.Unloaded.P99), f2(k.UnloadedRaw.P50), f2(k.UnloadedRaw.P99))
		others := make([]int64, len(k.PartitionItemBytes))
		for i, n := range k.PartitionItemBytes {
			others[i] = int64(n)
		}
		fmt.Fprintf(&b, "Item sizes as DynamoDB counts them (docs/capacity.md uses them): a session started through the API with default settings %s bytes; "+
			"the other items its start wrote under it (the created event, and the launch item holding client_settings and launch where the store keeps one): %s bytes.\n\n",
			thousands(int64(k.SessionItemBytes)), joinInts(others))
		renderKeepaliveUnits(&b, k)
	}
	if s := r.Settings; s != nil {
		fmt.Fprintf(&b, "## Effective settings\n\nA user in n groups (plus All Users), every group setting every setting of the catalog. Round trips: DynamoDB requests per `GET /v1/users/{id}/effective-settings` (admin key, so no key read), "+
			"over %d reads; API latency is that request end to end; store latency is `sessions.ResolveUser` in process (the two reads and the resolution). "+
			"Resolve: `settings.Resolve` of n groups in memory (testing.Benchmark, inputs as in internal/settings' BenchmarkResolve*; the fastest of three 1 s runs, all three in parentheses).\n\n", s.Reads)
		var rows [][]string
		for _, l := range s.Levels {
			rows = append(rows, []string{itoa(int64(l.Groups)), f1(l.RoundTrips), f2(l.API.P50), f2(l.API.P99), f2(l.Store.P50),
				fmt.Sprintf("%s (%s)", f1(float64(l.ResolveNsPerOp)/1000), microsList(l.ResolveRunsNs)), thousands(l.ResolveAllocsPerOp), thousands(l.ResolveBytesPerOp)})
		}
		table(&b, []string{"groups", "round trips", "API p50 ms", "API p99 ms", "store p50 ms", "Resolve µs", "allocs", "bytes"}, rows)
		fmt.Fprintf(&b, "The largest item of this table (a group that sets every setting) is %s bytes as DynamoDB counts it.\n\n", thousands(int64(s.LargestItemBytes)))
	}
	if s := r.Sweep; s != nil {
		fmt.Fprintf(&b, "## Sweep\n\nOne table grown level by level (sessions written in bulk with BatchWriteItem). At each level, %d rounds: each round adds exactly the due sessions, due at a fixed sweep time (their keepalive expired within the minute before it), "+
			"dry-runs (the same reads and decisions, no writes) and sweeps, which deletes each due session (the session, its keepalive_expired and deleted events, the user's count, up to 8 sessions of distinct users a transaction), so every round has exactly the due sessions among exactly the live ones. "+
			"Every other live session is in the Due index too, due within the hour after the sweep time (default settings: keepalive_expiration 3600 s, action delete). "+
			"A round before the first level warms DynamoDB Local up and is not counted. Times are medians of the rounds. Plot: sweep-scale.png.\n\n", s.Rounds)
		var rows [][]string
		for _, l := range s.Levels {
			rows = append(rows, []string{thousands(int64(l.Live)), thousands(int64(l.Due)), thousands(l.SweepMs), joinInts(l.SweepRoundsMs), thousands(l.DryRunMs), thousands(int64(l.ItemsRead)),
				thousands(int64(l.Deleted)), thousands(l.Requests.Requests), l.Requests.operations(), f1(l.SeedSeconds)})
		}
		table(&b, []string{"live sessions", "due", "sweep ms", "rounds ms", "dry run ms", "items read", "deleted", "DynamoDB requests", "by operation", "seeding s"}, rows)
		fmt.Fprintf(&b, "Sweep time ratio, last level ÷ first: %s× (dry run: %s×).\n\n", f2(s.Ratio), f2(s.DryRunRatio))
	}
	if u := r.Usage; u != nil {
		renderUsage(&b, u)
	}
	if h := r.HotBudget; h != nil {
		renderHotBudget(&b, h)
	}
	if pv := r.Preview; pv != nil {
		renderPreview(&b, pv)
	}
	if s := r.SweepScale; s != nil {
		b.WriteString("## Mass expiry\n\nSee results-sweepscale.md (sweepscale.png) for the table of this part; its figures are in the checks above.\n\n")
	}
	if l := r.Lambdas; l != nil {
		fmt.Fprintf(&b, "## Lambda bootstraps\n\nSize: `GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags=\"-s -w\"`. "+
			"First answer: the host-architecture build of the same under aws-lambda-rie (internal/lambdarie), from the emulator's process start to the end of the first answer to the fixture, %d cold starts each, against DynamoDB Local (and a local stand-in for EventBridge). "+
			"A loopback proxy in front of DynamoDB Local times the function's requests until that answer; \"the rest\" is the first answer minus that wait: starting the emulator and the process, and the function's own work.\n\n", l.ColdStarts)
		var rows [][]string
		for _, f := range l.Functions {
			first, fixture := "–", "–"
			if len(f.FirstAnswerMs) > 0 {
				var each []string
				for _, v := range f.FirstAnswerMs {
					each = append(each, f1(v))
				}
				first = fmt.Sprintf("%s (%s)", f1(f.FirstAnswerP50), strings.Join(each, ", "))
				fixture = fmt.Sprintf("%s → %d", f.Fixture, f.Status)
			}
			wait, rest := "–", "–"
			if len(f.DBWaitMs) > 0 {
				wait, rest = fmt.Sprintf("%s (%s)", f1(f.DBWaitP50), f.DBCalls), f1(f.ProcessP50)
			}
			rows = append(rows, []string{f.Name, thousands(f.ArmBytes), f1(float64(f.ArmBytes) / 1e6), first, wait, rest, fixture})
		}
		table(&b, []string{"function", "arm64 bytes", "MB", "first answer ms: median (each)", "of which DynamoDB Local ms (calls)", "the rest ms", "fixture → status"}, rows)
	}
	return b.String()
}

// joinInts renders "1,200 / 1,150 / 1,310".
func joinInts(v []int64) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = thousands(n)
	}
	return strings.Join(parts, " / ")
}

// microsList renders nanosecond figures as "54.0, 61.2, 58.8" microseconds.
func microsList(ns []int64) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = f1(float64(n) / 1000)
	}
	return strings.Join(parts, ", ")
}

// missNotes explains, for each target this run missed, what the profile and the split figures
// say about why, and what would change it.
func missNotes(r *results) string {
	var b strings.Builder
	if k := r.Keepalive; k != nil && k.Ratio < 0.70 {
		fmt.Fprintf(&b, "- **Keepalive ÷ raw UpdateItem %.0f%%.** The split: the keepalive's own UpdateItem, called in process, does %.0f%% of the raw one's throughput on DynamoDB Local "+
			"(its condition and the returned attributes), and the API then keeps %.0f%% of that "+
			"(HTTP on loopback, key check from the cache, routing, the log line; a CPU profile, `-profile`, shows the API's own functions at a few per cent, the rest is net/http and syscalls "+
			"competing with DynamoDB Local for the two cores). A one-off experiment on DynamoDB Local (16 clients, interleaved, 27 Nov 2026) took the keepalive's UpdateItem apart: bare SET 100%%, "+
			"the keepalive's SETs (DueAt moves) 95%%, plus its condition 84%%, plus ALL_NEW 84%%, ddbstore's Keepalive 86%%: most of DynamoDB Local's extra cost is evaluating the condition, "+
			"which the design needs (ownership, status, usage deadline, idle and time limit without a read); on DynamoDB a conditional write costs the same units as a bare one. "+
			"Slice by slice the ratio went %s in this run: other processes on the machine move it by more than the margin.\n",
			100*k.Ratio, 100*k.Direct.OpsPerSec/max(k.Raw.OpsPerSec, 1), 100*k.API.OpsPerSec/max(k.Direct.OpsPerSec, 1), percentRange(k.SliceRatios))
	}
	if k := r.Keepalive; k != nil && k.APICPUMicrosPerKeepalive > maxAPICPUMicros {
		fmt.Fprintf(&b, "- **API process CPU %.0f µs per keepalive** (target ≤ 120 µs; %.2f of its %.2f s in the kernel). Where it goes (the profile below, `%s`; docs/capacity.md section 5a): "+
			"net/http on both sides (the server's read and answer, the client's write and read goroutines), the system calls of the loopback network stack and the scheduler's wake-ups between those goroutines; "+
			"the API's own work (the keepalive's hand-built UpdateItem in ddbwire, the log line, the key check from the cache, routing, the answer) is a sixth of it. "+
			"The floor measured in the same slices, net/http's server and client with nothing else, is %.0f µs per request: the target is below what net/http and the kernel cost on this machine; "+
			"the same API with the keepalive's UpdateItem sent through the AWS SDK used %.0f µs.\n",
			k.APICPUMicrosPerKeepalive, k.APISysCPUSeconds, k.APICPUSeconds, k.Profile, k.FloorCPUMicros, k.SDKCPUMicros)
	}
	if k := r.Keepalive; k != nil && k.steadyUnits() > maxUnitsPerKeepalive {
		fmt.Fprintf(&b, "- **%.3f write units per keepalive** in steady state: more than 1.25.\n", k.steadyUnits())
	}
	if k := r.Keepalive; k != nil && (k.RequestsPerKeepalive == 0 || k.RequestsPerKeepalive >= 1.005) {
		fmt.Fprintf(&b, "- **%.3f DynamoDB requests per keepalive** (%s): more than the one UpdateItem; the key cache (30 s) should make key reads rare within a run.\n",
			k.RequestsPerKeepalive, k.APIRequests.operations())
	}
	if s := r.Settings; s != nil && len(s.Levels) > 0 {
		l := s.Levels[len(s.Levels)-1]
		if l.ResolveNsPerOp > 50_000 {
			fmt.Fprintf(&b, "- **Resolve of %d groups %s µs** (runs: %s µs; the bar is half of 100 µs). A CPU profile of internal/settings' BenchmarkResolve50Groups "+
				"(`go test ./internal/settings -run xxx -bench Resolve50 -cpuprofile cpu.out`) puts about 60%% of the time in mergeVolumes: every resolution scans each group's "+
				"volume_mapping JSON again (skipValue, bytes.IndexByte) and sorts the 100 host paths. It is 12 allocations and 40 KB whatever the groups, so the rest is the "+
				"50 × catalog lookups. Parsing each group's volume_mapping once when the group is read (or caching it by group id and version) would leave the merge "+
				"of pre-parsed entries; that is a change to internal/settings, not made here. The figure also moves with the machine's load (the three runs above).\n",
				l.Groups, f1(float64(l.ResolveNsPerOp)/1000), microsList(l.ResolveRunsNs))
		}
		if l.RoundTrips > 2 {
			fmt.Fprintf(&b, "- **%.1f round trips for effective settings** with %d groups: more than the user read and one batch read of the groups.\n", l.RoundTrips, l.Groups)
		}
	}
	if s := r.Sweep; s != nil && len(s.Levels) > 1 && s.Ratio > 2 {
		fmt.Fprintf(&b, "- **Sweep ratio %s×.** Items read stay at the due count at every level (see the table), so the reads do not grow with live sessions; the dry runs "+
			"(reads and decisions only) went %s×. The rest is DynamoDB Local's transaction time on a bigger table.\n", f2(s.Ratio), f2(s.DryRunRatio))
	}
	if l := r.Lambdas; l != nil {
		for _, f := range l.Functions {
			if f.ArmBytes > maxBootstrapBytes {
				fmt.Fprintf(&b, "- **%s bootstrap %s MB**: over 15 MB; `go version -m` on it lists the modules it links.\n", f.Name, f1(float64(f.ArmBytes)/1e6))
			}
			if f.Name == "api" && f.FirstAnswerP50 >= 100 {
				fmt.Fprintf(&b, "- **api first answer %s ms**, of which %s ms waiting on DynamoDB Local (%s) and %s ms the rest. The wait is the cold start's EnsureAllUsers "+
					"transaction (functions/api: a conditional TransactWriteItems on every cold start, which fails once All Users exists); DynamoDB Local's transactions "+
					"slow down when the machine is loaded. A GetItem first (eventually consistent, ½ read unit) and the transaction only when the group is missing, or creating "+
					"All Users at deploy time, would take the write off every cold start.\n", f1(f.FirstAnswerP50), f1(f.DBWaitP50), f.DBCalls, f1(f.ProcessP50))
			}
		}
	}
	return b.String()
}

// plural renders "1 user", "10,000 users".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(int64(n)) + " " + noun + "s"
}

// percentRange renders the smallest and largest of ratios as "61–83%".
func percentRange(ratios []float64) string {
	if len(ratios) == 0 {
		return "–"
	}
	lo, hi := ratios[0], ratios[0]
	for _, r := range ratios {
		lo, hi = min(lo, r), max(hi, r)
	}
	return fmt.Sprintf("%.0f–%.0f%%", 100*lo, 100*hi)
}

// steadyUnits is the steady-state write units per keepalive, 0 when not measured.
func (k *keepaliveResult) steadyUnits() float64 {
	if k.Steady == nil {
		return 0
	}
	return k.Steady.UnitsPerKeepalive
}

// renderKeepaliveUnits writes the write-unit and CPU detail of the keepalive.
func renderKeepaliveUnits(b *strings.Builder, k *keepaliveResult) {
	fmt.Fprintf(b, "### Write units\n\nAs DynamoDB Local reports them (ReturnConsumedCapacity INDEXES: the table's units and each index's; transactions, which it charges a flat 4, costed from their items' sizes). "+
		"In the throughput run the in-process keepalives cost %s units for %s keepalives: %.3f each.\n\n", unitsDetail(k.DirectUnits), thousands(k.Direct.Ops), k.DirectUnitsPerKeepalive)
	if st := k.Steady; st != nil {
		fmt.Fprintf(b, "Steady state: %d sessions with the default settings (keepalive_interval %d s, keepalive_expiration %d s), each kept alive every interval for %.0f simulated hours (phases spread over the interval), "+
			"a sweep every simulated minute; counted from %d s on (one keepalive_expiration: every session's first entry has come due). The keepalive moves no index key in the common case: the due index entry is early once the session has been kept alive. "+
			"The process that sent the keepalive remembers where the entry is (from the item the keepalive returns), and its keepalive that comes within one interval (and a margin) of the entry's time moves the entry to the new expiry "+
			"(2 more units: the Due index's delete and put); an entry no keepalive moved in time is moved by the sweep that finds it (3 units: the item and the index's delete and put).\n\n", st.Sessions, st.IntervalS, st.ExpiryS, st.Hours, st.MeasuredFromS)
		rows := [][]string{}
		for _, x := range []*steadyResult{k.Steady, k.SteadyCold} {
			if x == nil {
				continue
			}
			name := "keepalives from one process (local run, this bench)"
			if x.Cold {
				name = "every keepalive from a process new to the session"
			}
			rows = append(rows, []string{name, thousands(int64(x.Keepalives)), unitsDetail(x.KeepaliveUnits), itoa(int64(x.Sweeps)), unitsDetail(x.SweepUnits), thousands(int64(x.Rescheduled)), itoa(int64(x.Acted)), fmt.Sprintf("**%.3f**", x.UnitsPerKeepalive)})
		}
		table(b, []string{"keepalives", "count", "their units", "sweeps", "sweeps' units", "sweep corrections", "acted on", "units per keepalive"}, rows)
	}
	fmt.Fprintf(b, "### API process CPU\n\n%.2f s of CPU in the API's process over its %s keepalives (of which %.2f s in the kernel: system calls, the loopback network stack): **%.0f µs per keepalive**. ",
		k.APICPUSeconds, thousands(k.API.Ops), k.APISysCPUSeconds, k.APICPUMicrosPerKeepalive)
	if k.Profile != "" {
		fmt.Fprintf(b, "CPU profile of that process over the keepalive slices: `%s` (`go tool pprof -top -cum %s`).", k.Profile, k.Profile)
	}
	if k.Floor.Ops > 0 {
		fmt.Fprintf(b, " The floor on this machine, measured in the same slices (a process serving the same requests with net/http's server and sending one raw UpdateItem per request to DynamoDB Local with net/http's client: no SDK, no signing, no key check, no log line): %.2f s of CPU for %s requests (%.2f s in the kernel): **%.0f µs per request**.",
			k.FloorCPUSeconds, thousands(k.Floor.Ops), k.FloorSysSeconds, k.FloorCPUMicros)
	}
	if k.FloorSync.Ops > 0 {
		fmt.Fprintf(b, " The floor with a synchronous client (the request written and its answer read on the handler's goroutine, no net/http client goroutines): **%.0f µs per request**.", k.FloorSyncMicros)
	}
	if k.SDK.Ops > 0 {
		fmt.Fprintf(b, " The same API with the keepalive's UpdateItem sent through the AWS SDK instead of ddbwire, in the same slices: %.2f s for %s keepalives, **%.0f µs per keepalive**.",
			k.SDKCPUSeconds, thousands(k.SDK.Ops), k.SDKCPUMicros)
	}
	b.WriteString("\n\n")
	if len(k.TopCosts) > 0 {
		b.WriteString("```\n      flat  flat%   sum%        cum   cum%\n")
		for _, l := range k.TopCosts {
			b.WriteString(l + "\n")
		}
		b.WriteString("```\n\n")
	}
}
