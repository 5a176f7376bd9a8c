package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

// loadResult is what one closed-loop load run measured.
type loadResult struct {
	Ops       int64     `json:"ops"`
	OpsPerSec float64   `json:"ops_per_sec"`
	Latency   latencies `json:"latency"`
	Errors    int64     `json:"errors"`
	FirstErr  string    `json:"first_error,omitempty"`
}

// runLoad runs op from clients goroutines, each calling it again as soon as it returns, for
// dur; it counts the calls that succeeded and their latencies.
func runLoad(ctx context.Context, clients int, dur time.Duration, op func(ctx context.Context, client int) error) loadResult {
	var m merged
	m.runSlice(ctx, clients, dur, op)
	return m.result()
}

// merged adds up load results of the same operation run in slices.
type merged struct {
	ops, errs  int64
	elapsed    time.Duration
	lat        []time.Duration
	firstErr   string
	sliceRates []float64 // operations per second of each slice
}

// runSlice runs one slice of dur and adds it.
func (m *merged) runSlice(ctx context.Context, clients int, dur time.Duration, op func(ctx context.Context, client int) error) {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		bad atomic.Int64
	)
	start := time.Now()
	deadline := start.Add(dur)
	for c := range clients {
		wg.Go(func() {
			var lat []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := op(ctx, c); err != nil {
					bad.Add(1)
					mu.Lock()
					if m.firstErr == "" {
						m.firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			m.lat = append(m.lat, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	d := time.Since(start)
	m.elapsed += d
	m.sliceRates = append(m.sliceRates, float64(int64(len(m.lat))-m.ops)/d.Seconds())
	m.ops = int64(len(m.lat))
	m.errs += bad.Load()
}

func (m *merged) result() loadResult {
	r := loadResult{Ops: m.ops, Latency: summarize(m.lat), Errors: m.errs, FirstErr: m.firstErr}
	if m.elapsed > 0 {
		r.OpsPerSec = float64(m.ops) / m.elapsed.Seconds()
	}
	return r
}

// keepaliveSlices is how many slices each mode's run is cut into.
const keepaliveSlices = 10

// keepaliveResult compares keepalives through the API with raw writes of the same items.
type keepaliveResult struct {
	Clients   int     `json:"clients"`
	DurationS float64 `json:"duration_s"`
	Slices    int     `json:"slices"`
	// Raw is a minimal single-item UpdateItem (SET one attribute, no condition, no returned
	// values) of the same session items, sent with the same client.
	Raw loadResult `json:"raw_update_item"`
	// Direct is sessions.RunKeepalive over ddbstore called in process (the conditional
	// UpdateItem the API sends, without HTTP).
	Direct loadResult `json:"direct_store_keepalive"`
	// API is POST /v1/sessions/{id}/keepalive with a user key through the HTTP server.
	API loadResult `json:"api_keepalive"`
	// NoKeyCache is API with the verified-key cache off, as on AWS when one client's
	// keepalives (every keepalive_interval, 300 s by default) come further apart than the
	// cache's 60 s at most, or land on another Lambda instance: the key is read every time.
	NoKeyCache         loadResult `json:"api_keepalive_no_key_cache"`
	NoKeyCacheRequests float64    `json:"ddb_requests_per_keepalive_no_key_cache"`
	// Ratio is API.OpsPerSec ÷ Raw.OpsPerSec; SliceRatios the same slice by slice, which
	// shows how much the machine's load moved it during the run.
	Ratio       float64   `json:"ratio"`
	SliceRatios []float64 `json:"slice_ratios"`
	// SessionItemBytes is the size of a session started through the API (default settings) as
	// DynamoDB counts it; PartitionItemBytes those of the other items under it (its created
	// event, and whatever else a start writes there), largest first.
	SessionItemBytes   int   `json:"session_item_bytes"`
	PartitionItemBytes []int `json:"other_session_partition_item_bytes"`
	// Unloaded is the API keepalive's latency from one client at a time (no queueing): the
	// service time that Little's law multiplies by the arrival rate in docs/capacity.md.
	Unloaded    latencies `json:"api_keepalive_one_client"`
	UnloadedRaw latencies `json:"raw_update_item_one_client"`
	// RequestsPerKeepalive is the DynamoDB requests the API sent during its run ÷ keepalives.
	RequestsPerKeepalive float64  `json:"ddb_requests_per_keepalive"`
	APIRequests          ddbCount `json:"api_ddb_requests"`
	// DirectUnits is the write capacity DynamoDB Local reported for the in-process keepalives
	// (the same UpdateItem the API sends); DirectUnitsPerKeepalive that ÷ keepalives.
	DirectUnits             capacity `json:"direct_write_units"`
	DirectUnitsPerKeepalive float64  `json:"direct_write_units_per_keepalive"`
	// Steady is the write units per keepalive over simulated hours, sweeps included, with the
	// keepalives from one process (as the local run and this bench's API serve them);
	// SteadyCold the same with every keepalive from a process that has not seen the session.
	Steady     *steadyResult `json:"steady_state,omitempty"`
	SteadyCold *steadyResult `json:"steady_state_cold,omitempty"`
	// APICPUSeconds is the CPU time the API's process spent during the API slices, by the
	// kernel's accounting of that process (it serves nothing else); per keepalive in µs.
	APICPUSeconds            float64 `json:"api_process_cpu_s"`
	APISysCPUSeconds         float64 `json:"api_process_system_cpu_s"`
	APICPUMicrosPerKeepalive float64 `json:"api_process_cpu_us_per_keepalive"`
	// Profile is the CPU profile of the API process over the API slices; TopCosts its
	// heaviest functions (cumulative share), as go tool pprof lists them.
	// Floor is the least a keepalive costs on this machine with net/http on both sides
	// (floorHandler, a process of its own, run in the same slices): FloorCPUMicros its CPU per
	// request by the same accounting as the API's.
	Floor           loadResult `json:"floor"`
	FloorCPUSeconds float64    `json:"floor_process_cpu_s"`
	FloorSysSeconds float64    `json:"floor_process_system_cpu_s"`
	FloorCPUMicros  float64    `json:"floor_process_cpu_us_per_request"`
	// SDK is the API keepalive with the keepalive's UpdateItem sent through the SDK instead of
	// ddbwire (as before issue 14's target 3), in the same slices; SDKCPUMicros its process's
	// CPU per keepalive.
	// FloorSync is the floor with a synchronous client (floorHandler's sync): the request
	// written and its answer read on the handler's goroutine.
	FloorSync       loadResult `json:"floor_sync_client"`
	FloorSyncMicros float64    `json:"floor_sync_client_cpu_us_per_request"`
	SDK             loadResult `json:"api_keepalive_sdk_update_item"`
	SDKCPUSeconds   float64    `json:"api_sdk_process_cpu_s"`
	SDKCPUMicros    float64    `json:"api_sdk_process_cpu_us_per_keepalive"`
	Profile         string     `json:"api_cpu_profile,omitempty"`
	TopCosts        []string   `json:"api_cpu_top,omitempty"`
}

// unitsDetail renders a capacity figure, e.g. "table 1.00, Due 2.00".
func unitsDetail(c capacity) string {
	s := fmt.Sprintf("table %.0f", c.TableUnits)
	for _, k := range slices.Sorted(maps.Keys(c.IndexUnits)) {
		s += fmt.Sprintf(", %s %.0f", k, c.IndexUnits[k])
	}
	if c.Transactions > 0 {
		s += fmt.Sprintf(", %d transactions %.0f (from item sizes)", c.Transactions, c.TxUnits)
	}
	return s
}

// benchKeepalive starts one session per client through the API (each client its own user
// and user key), warms up, then runs raw UpdateItem, the in-process store keepalive and the
// API keepalive in turn, each with clients concurrent callers for dur.
func benchKeepalive(ctx context.Context, p *progress, endpoint string, clients int, dur time.Duration, prof *profiler, profilePath string) (*keepaliveResult, error) {
	if dur < keepaliveSlices*100*time.Millisecond {
		return nil, fmt.Errorf("-duration %v is too short for %d slices", dur, keepaliveSlices)
	}
	e, err := newEnv(ctx, endpoint, "bench_keepalive", clients, policy.SystemClock{})
	if err != nil {
		return nil, err
	}
	defer e.close()
	p.logf("keepalive: %d users, keys and sessions through the API", clients)
	keys := make([]string, clients)
	sessionIDs := make([]string, clients)
	for i := range clients {
		uid, key, err := e.newUserWithKey(ctx, fmt.Sprintf("ka-user-%03d", i))
		if err != nil {
			return nil, err
		}
		sid, err := e.startSession(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", uid, err)
		}
		keys[i], sessionIDs[i] = key, sid
	}
	api, err := startAPIChild(apiChildConfig{endpoint: endpoint, table: e.table, conns: clients}, profilePath)
	if err != nil {
		return nil, err
	}
	defer api.stop()
	apiOp := func(ctx context.Context, c int) error {
		return e.callAt(ctx, api.url, http.MethodPost, "/v1/sessions/"+sessionIDs[c]+"/keepalive", keys[c], nil, nil)
	}
	rawKeys := make([]map[string]ddbtypes.AttributeValue, clients)
	for i, id := range sessionIDs {
		rawKeys[i] = ddbstore.SessionItemKey(id)
	}
	rawOp := func(ctx context.Context, c int) error {
		_, err := e.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(e.table),
			Key:                       rawKeys[c],
			UpdateExpression:          aws.String("SET bench_touch = :now"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":now": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().UnixMilli(), 10)}},
		})
		return err
	}
	directOp := func(ctx context.Context, c int) error {
		_, err := sessions.RunKeepalive(ctx, e.ss, sessionIDs[c], "", time.Now(), 0)
		return err
	}

	sessionBytes, otherBytes, err := partitionItemSizes(ctx, e.db, e.table, ddbstore.SessionItemKey(sessionIDs[0]))
	if err != nil {
		return nil, err
	}
	p.logf("keepalive: a session item is %d bytes; the other items under it %v bytes", sessionBytes, otherBytes)
	warm := min(3*time.Second, dur)
	p.logf("keepalive: warm-up %v (API keepalives; also fills the key cache)", warm)
	if r := runLoad(ctx, clients, warm, apiOp); r.Errors > 0 {
		return nil, fmt.Errorf("warm-up: %d errors, first: %s", r.Errors, r.FirstErr)
	}
	noCache, err := startAPIChild(apiChildConfig{endpoint: endpoint, table: e.table, conns: clients, keyCacheOff: true}, "")
	if err != nil {
		return nil, err
	}
	defer noCache.stop()
	noCacheOp := func(ctx context.Context, c int) error {
		return e.callAt(ctx, noCache.url, http.MethodPost, "/v1/sessions/"+sessionIDs[c]+"/keepalive", keys[c], nil, nil)
	}
	// The floor's profile lies beside the API's (not committed): it splits the floor between
	// net/http's server, its client and the runtime.
	floorProfile := ""
	if profilePath != "" {
		floorProfile = strings.TrimSuffix(profilePath, ".cpu.pprof") + "-floor.cpu.pprof"
	}
	floor, err := startAPIChild(apiChildConfig{endpoint: endpoint, table: e.table, conns: clients, floor: true}, floorProfile)
	if err != nil {
		return nil, err
	}
	defer floor.stop()
	floorOp := func(ctx context.Context, c int) error {
		return e.callAt(ctx, floor.url, http.MethodPost, "/v1/sessions/"+sessionIDs[c]+"/keepalive", "", nil, nil)
	}
	if err := floorOp(ctx, 0); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	floorSync, err := startAPIChild(apiChildConfig{endpoint: endpoint, table: e.table, conns: clients, floorSync: true}, "")
	if err != nil {
		return nil, err
	}
	defer floorSync.stop()
	floorSyncOp := func(ctx context.Context, c int) error {
		return e.callAt(ctx, floorSync.url, http.MethodPost, "/v1/sessions/"+sessionIDs[c]+"/keepalive", "", nil, nil)
	}
	if err := floorSyncOp(ctx, 0); err != nil {
		return nil, fmt.Errorf("floor with a synchronous client: %w", err)
	}
	sdkAPI, err := startAPIChild(apiChildConfig{endpoint: endpoint, table: e.table, conns: clients, sdk: true}, "")
	if err != nil {
		return nil, err
	}
	defer sdkAPI.stop()
	sdkOp := func(ctx context.Context, c int) error {
		return e.callAt(ctx, sdkAPI.url, http.MethodPost, "/v1/sessions/"+sessionIDs[c]+"/keepalive", keys[c], nil, nil)
	}
	if r := runLoad(ctx, clients, warm, sdkOp); r.Errors > 0 {
		return nil, fmt.Errorf("warm-up of the SDK API: %d errors, first: %s", r.Errors, r.FirstErr)
	}
	res := &keepaliveResult{Clients: clients, DurationS: dur.Seconds(), Slices: keepaliveSlices, SessionItemBytes: sessionBytes, PartitionItemBytes: otherBytes}
	modes := []struct {
		name string
		op   func(ctx context.Context, c int) error
		m    merged
		reqs ddbCount
		cap  capacity
		cpu  cpuTime
		// child is the API process serving the mode (nil: the bench's own client sends).
		child *apiChild
	}{{name: "raw UpdateItem", op: rawOp}, {name: "API keepalive", op: apiOp, child: api}, {name: "store keepalive in process", op: directOp}, {name: "API keepalive, key cache off", op: noCacheOp, child: noCache},
		{name: "floor: net/http server, one raw POST to DynamoDB Local", op: floorOp, child: floor},
		{name: "API keepalive, UpdateItem through the SDK", op: sdkOp, child: sdkAPI},
		{name: "floor with a synchronous client", op: floorSyncOp, child: floorSync}}
	slice := dur / keepaliveSlices
	p.logf("keepalive: %d modes × %v with %d clients, in %d interleaved slices of %v (so that the machine's load drifts alike for all)", len(modes), dur, clients, keepaliveSlices, slice)
	stopProf := prof.start("keepalive")
	api.signal(syscall.SIGUSR1) // the API's profile: it is busy during its own slices only
	floor.signal(syscall.SIGUSR1)
	for i := range keepaliveSlices {
		for j := range modes {
			md := &modes[(i+j)%len(modes)] // rotate the order from slice to slice
			counts := func() (ddbCount, error) {
				if md.child != nil {
					return md.child.counts(ctx, e)
				}
				return e.counter.snapshot(), nil
			}
			before, err := counts()
			if err != nil {
				return nil, err
			}
			capBefore := e.capacity.snapshot()
			var cpuBefore cpuTime
			if md.child != nil {
				if cpuBefore, err = md.child.cpu(); err != nil {
					return nil, err
				}
			}
			md.m.runSlice(ctx, clients, slice, md.op)
			if md.child != nil {
				cpuAfter, err := md.child.cpu()
				if err != nil {
					return nil, err
				}
				md.cpu = md.cpu.add(cpuAfter.sub(cpuBefore))
			}
			after, err := counts()
			if err != nil {
				return nil, err
			}
			md.reqs = addCounts(md.reqs, diffCounts(after, before))
			md.cap = addCapacity(md.cap, e.capacity.since(capBefore))
		}
		p.logf("keepalive: slice %d/%d: raw %.0f/s, API %.0f/s so far", i+1, keepaliveSlices, modes[0].m.result().OpsPerSec, modes[1].m.result().OpsPerSec)
	}
	api.signal(syscall.SIGUSR2)
	floor.signal(syscall.SIGUSR2)
	stopProf()
	res.Raw, res.API, res.Direct, res.NoKeyCache = modes[0].m.result(), modes[1].m.result(), modes[2].m.result(), modes[3].m.result()
	res.APIRequests = modes[1].reqs
	res.DirectUnits = modes[2].cap
	if res.Direct.Ops > 0 {
		res.DirectUnitsPerKeepalive = modes[2].cap.Total() / float64(res.Direct.Ops)
	}
	res.Floor = modes[4].m.result()
	res.FloorCPUSeconds, res.FloorSysSeconds = modes[4].cpu.total().Seconds(), modes[4].cpu.sys.Seconds()
	if res.Floor.Ops > 0 {
		res.FloorCPUMicros = float64(modes[4].cpu.total().Microseconds()) / float64(res.Floor.Ops)
	}
	res.FloorSync = modes[6].m.result()
	if res.FloorSync.Ops > 0 {
		res.FloorSyncMicros = float64(modes[6].cpu.total().Microseconds()) / float64(res.FloorSync.Ops)
	}
	p.logf("keepalive: floor with a synchronous client: %.0f µs per request (%.0f µs in the kernel)", res.FloorSyncMicros, float64(modes[6].cpu.sys.Microseconds())/float64(max(res.FloorSync.Ops, 1)))
	res.SDK, res.SDKCPUSeconds = modes[5].m.result(), modes[5].cpu.total().Seconds()
	if res.SDK.Ops > 0 {
		res.SDKCPUMicros = float64(modes[5].cpu.total().Microseconds()) / float64(res.SDK.Ops)
	}
	p.logf("keepalive: API with the SDK's UpdateItem: %.0f µs per keepalive (%.0f µs in the kernel)", res.SDKCPUMicros, float64(modes[5].cpu.sys.Microseconds())/float64(max(res.SDK.Ops, 1)))
	res.APICPUSeconds = modes[1].cpu.total().Seconds()
	res.APISysCPUSeconds = modes[1].cpu.sys.Seconds()
	if res.API.Ops > 0 {
		res.APICPUMicrosPerKeepalive = float64(modes[1].cpu.total().Microseconds()) / float64(res.API.Ops)
	}
	p.logf("keepalive: in-process keepalive %.3f write units each (%s); API process CPU %.0f µs per keepalive (%.0f µs in the kernel); floor %.0f µs per request (%.0f µs in the kernel)", res.DirectUnitsPerKeepalive, unitsDetail(res.DirectUnits), res.APICPUMicrosPerKeepalive,
		float64(modes[1].cpu.sys.Microseconds())/float64(max(res.API.Ops, 1)), res.FloorCPUMicros, float64(modes[4].cpu.sys.Microseconds())/float64(max(res.Floor.Ops, 1)))
	for i := range modes[0].m.sliceRates {
		res.SliceRatios = append(res.SliceRatios, modes[1].m.sliceRates[i]/max(modes[0].m.sliceRates[i], 1))
	}
	if res.API.Ops > 0 {
		res.RequestsPerKeepalive = float64(res.APIRequests.Requests) / float64(res.API.Ops)
	}
	if res.NoKeyCache.Ops > 0 {
		res.NoKeyCacheRequests = float64(modes[3].reqs.Requests) / float64(res.NoKeyCache.Ops)
	}
	for _, md := range modes {
		r := md.m.result()
		p.logf("keepalive: %s: %.0f/s, p50 %.2f ms, p99 %.2f ms, %.3f DynamoDB requests each", md.name, r.OpsPerSec, r.Latency.P50, r.Latency.P99, float64(md.reqs.Requests)/float64(max(r.Ops, 1)))
	}
	const sequential = 300
	p.logf("keepalive: one client, %d API keepalives and %d raw UpdateItems one after the other", sequential, sequential)
	for _, x := range []struct {
		op  func(ctx context.Context, c int) error
		out *latencies
	}{{apiOp, &res.Unloaded}, {rawOp, &res.UnloadedRaw}} {
		lat := make([]time.Duration, 0, sequential)
		for range sequential {
			t0 := time.Now()
			if err := x.op(ctx, 0); err != nil {
				return nil, err
			}
			lat = append(lat, time.Since(t0))
		}
		*x.out = summarize(lat)
	}
	p.logf("keepalive: one client: API p50 %.2f ms p99 %.2f ms; raw p50 %.2f ms p99 %.2f ms", res.Unloaded.P50, res.Unloaded.P99, res.UnloadedRaw.P50, res.UnloadedRaw.P99)
	if res.Raw.OpsPerSec > 0 {
		res.Ratio = res.API.OpsPerSec / res.Raw.OpsPerSec
	}
	for name, r := range map[string]loadResult{"raw": res.Raw, "api": res.API, "direct": res.Direct, "api without key cache": res.NoKeyCache, "floor": res.Floor, "api with the SDK": res.SDK, "floor with a synchronous client": res.FloorSync} {
		if r.Errors > 0 {
			return res, fmt.Errorf("keepalive %s run: %d errors, first: %s", name, r.Errors, r.FirstErr)
		}
	}
	return res, nil
}
