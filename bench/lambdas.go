package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lambdarie"
)

// lambdaFixtures is the event each function's cold start is timed with (events/…).
var lambdaFixtures = map[string]string{
	"api":       "apigw-health.json",
	"sweeper":   "schedule-sweep.json",
	"publisher": "ddb-stream-insert-event.json",
	"timelimit": "sfn-timelimit-warn.json",
}

// lambdaFunc is one function's bootstrap size and cold start.
type lambdaFunc struct {
	Name string `json:"name"`
	// ArmBytes is the size of the linux/arm64 bootstrap built as make lambdas builds it.
	ArmBytes int64 `json:"arm64_bytes"`
	// Fixture is the event of the cold starts ("" when the function has none).
	Fixture string `json:"fixture,omitempty"`
	// FirstAnswerMs holds each cold start's time from the emulator's process start to the
	// end of the first answer (host-architecture build); FirstAnswerP50 their median.
	FirstAnswerMs  []float64 `json:"first_answer_ms,omitempty"`
	FirstAnswerP50 float64   `json:"first_answer_p50_ms,omitempty"`
	// DBWaitMs is, for each cold start, the time the function spent waiting on DynamoDB
	// Local until its first answer (measured by a loopback proxy in front of it), and
	// DBCalls the operations it sent then; FirstAnswerP50 − the median wait is the cost of
	// the process itself.
	DBWaitMs   []float64 `json:"ddb_wait_ms,omitempty"`
	DBCalls    string    `json:"ddb_calls,omitempty"`
	DBWaitP50  float64   `json:"ddb_wait_p50_ms,omitempty"`
	ProcessP50 float64   `json:"first_answer_minus_ddb_wait_p50_ms,omitempty"`
	// Status is the emulator's HTTP status of the first answer; Answer its body, shortened.
	Status int    `json:"status,omitempty"`
	Answer string `json:"answer,omitempty"`
}

// lambdaResult lists the functions.
type lambdaResult struct {
	ColdStarts int          `json:"cold_starts_per_function"`
	Functions  []lambdaFunc `json:"functions"`
}

// benchLambdas builds every folder of functions/ for linux/arm64 and records the size, then
// runs the host build under aws-lambda-rie coldStarts times with its fixture and records
// the time to the first answer. The functions reach DynamoDB Local (a fresh table) and a
// local stand-in for EventBridge that accepts every entry.
func benchLambdas(ctx context.Context, p *progress, endpoint string, coldStarts int) (*lambdaResult, error) {
	entries, err := os.ReadDir("functions")
	if err != nil {
		return nil, err
	}
	db, err := ddbkit.NewClient(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	const table = "bench_lambda"
	if err := createBenchTable(ctx, db, table); err != nil {
		return nil, err
	}
	eb, stopEB, err := fakeEventBridge()
	if err != nil {
		return nil, err
	}
	defer stopEB()
	proxy, err := newTimingProxy(endpoint)
	if err != nil {
		return nil, err
	}
	defer proxy.close()
	env := map[string]string{
		"TABLE_NAME":                   table,
		"DYNAMODB_ENDPOINT":            proxy.url,
		"AWS_ENDPOINT_URL_DYNAMODB":    proxy.url,
		"EVENT_BUS_NAME":               "bench-bus",
		"AWS_ENDPOINT_URL_EVENTBRIDGE": eb,
		"ADMIN_API_KEY":                benchAdminKey,
	}
	tmp, err := os.MkdirTemp("", "wspolicy-bench-arm64-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &lambdaResult{ColdStarts: coldStarts}
	for _, de := range entries {
		if !de.IsDir() {
			continue
		}
		name := de.Name()
		f := lambdaFunc{Name: name, Fixture: lambdaFixtures[name]}
		p.logf("lambdas: %s: linux/arm64 build", name)
		out := filepath.Join(tmp, name, "bootstrap")
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, "./functions/"+name)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s for arm64: %v\n%s", name, err, b)
		}
		fi, err := os.Stat(out)
		if err != nil {
			return nil, err
		}
		f.ArmBytes = fi.Size()
		if f.Fixture != "" {
			p.logf("lambdas: %s: %s bootstrap; %d cold starts under aws-lambda-rie with %s", name, mib(f.ArmBytes), coldStarts, f.Fixture)
			if err := coldStartsOf(&f, env, coldStarts, proxy); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			f.FirstAnswerP50, f.DBWaitP50 = median(f.FirstAnswerMs), median(f.DBWaitMs)
			var proc []float64
			for i := range f.FirstAnswerMs {
				proc = append(proc, f.FirstAnswerMs[i]-f.DBWaitMs[i])
			}
			f.ProcessP50 = median(proc)
			p.logf("lambdas: %s: first answer %.1f ms (median), of which %.1f ms waiting on DynamoDB Local (%s)", name, f.FirstAnswerP50, f.DBWaitP50, f.DBCalls)
		}
		res.Functions = append(res.Functions, f)
	}
	return res, nil
}

// coldStartsOf builds f's host bootstrap once and starts it n times under the emulator, each
// time invoking it once with its fixture.
func coldStartsOf(f *lambdaFunc, env map[string]string, n int, proxy *timingProxy) error {
	return withTB(func(t testing.TB) {
		bootstrap := lambdarie.Build(t, f.Name)
		payload := lambdarie.Fixture(t, f.Fixture)
		for i := range n {
			err := withTB(func(t testing.TB) {
				proxy.reset()
				em := lambdarie.Start(t, bootstrap, lambdarie.Options{Env: env, Name: f.Name, Timeout: 30 * time.Second})
				r := em.Invoke(t, payload)
				wait, calls := proxy.take()
				f.FirstAnswerMs = append(f.FirstAnswerMs, ms(em.FirstAnswer()))
				f.DBWaitMs = append(f.DBWaitMs, ms(wait))
				f.DBCalls = calls
				if i == 0 {
					f.Status = r.Status
					f.Answer = shorten(string(r.Body), 160)
					if fe := r.FunctionError(); fe != "" {
						t.Fatalf("function error: %s\n%s", fe, em.Output())
					}
				}
			})
			if err != nil {
				t.Fatalf("cold start %d: %v", i+1, err)
			}
		}
	})
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// median of a copy of v.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// timingProxy forwards requests to DynamoDB Local on a loopback port and adds up the time
// during which at least one of them is in flight (concurrent requests count once), so that a
// function's cold start can be split into its own work and its waits.
type timingProxy struct {
	url       string
	srv       *http.Server
	mu        sync.Mutex
	wait      time.Duration
	inflight  int
	busySince time.Time
	calls     []string
}

func newTimingProxy(target string) (*timingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tp := &timingProxy{url: "http://" + l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	tp.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		tp.mu.Lock()
		if tp.inflight == 0 {
			tp.busySince = time.Now()
		}
		tp.inflight++
		tp.calls = append(tp.calls, op)
		tp.mu.Unlock()
		rp.ServeHTTP(w, r)
		tp.mu.Lock()
		if tp.inflight--; tp.inflight == 0 {
			tp.wait += time.Since(tp.busySince)
		}
		tp.mu.Unlock()
	})}
	go func() { _ = tp.srv.Serve(l) }()
	return tp, nil
}

func (tp *timingProxy) reset() { _, _ = tp.take() }

// take returns the wait and the operations since the last take, and starts over.
func (tp *timingProxy) take() (time.Duration, string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	w, calls := tp.wait, tp.calls
	tp.wait, tp.calls = 0, nil
	counts := map[string]int{}
	for _, c := range calls {
		counts[c]++
	}
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %d", op, counts[op]))
	}
	return w, strings.Join(parts, ", ")
}

func (tp *timingProxy) close() { _ = tp.srv.Close() }

// fakeEventBridge serves PutEvents on a loopback port and accepts every entry; it returns
// its URL and the function that stops it.
func fakeEventBridge() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Entries []json.RawMessage }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &in)
		type entry struct {
			EventID string `json:"EventId"`
		}
		out := struct {
			FailedEntryCount int     `json:"FailedEntryCount"`
			Entries          []entry `json:"Entries"`
		}{Entries: []entry{}}
		for i := range in.Entries {
			out.Entries = append(out.Entries, entry{EventID: fmt.Sprintf("bench-%d", i)})
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	})}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}
