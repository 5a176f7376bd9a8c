package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/policy"
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
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		errs     atomic.Int64
		firstErr atomic.Value
	)
	start := time.Now()
	deadline := start.Add(dur)
	for c := range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := op(ctx, c); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := loadResult{Ops: int64(len(all)), OpsPerSec: float64(len(all)) / elapsed.Seconds(), Latency: summarize(all), Errors: errs.Load()}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstErr = v
	}
	return r
}

// keepaliveResult compares keepalives through the API with raw writes of the same items.
type keepaliveResult struct {
	Clients   int     `json:"clients"`
	DurationS float64 `json:"duration_s"`
	// Raw is a minimal single-item UpdateItem (SET one attribute, no condition, no returned
	// values) of the same session items, sent with the same client.
	Raw loadResult `json:"raw_update_item"`
	// Direct is ddbstore's Keepalive called in process (the conditional UpdateItem the API
	// sends, without HTTP).
	Direct loadResult `json:"direct_store_keepalive"`
	// API is POST /v1/sessions/{id}/keepalive with a user key through the HTTP server.
	API loadResult `json:"api_keepalive"`
	// Ratio is API.OpsPerSec ÷ Raw.OpsPerSec.
	Ratio float64 `json:"ratio"`
	// RequestsPerKeepalive is the DynamoDB requests the API sent during its run ÷ keepalives.
	RequestsPerKeepalive float64  `json:"ddb_requests_per_keepalive"`
	APIRequests          ddbCount `json:"api_ddb_requests"`
}

// benchKeepalive starts one session per client through the API (each client its own user
// and user key), warms up, then runs raw UpdateItem, the in-process store keepalive and the
// API keepalive in turn, each with clients concurrent callers for dur.
func benchKeepalive(ctx context.Context, p *progress, endpoint string, clients int, dur time.Duration, prof *profiler) (*keepaliveResult, error) {
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
	apiOp := func(ctx context.Context, c int) error {
		return e.call(ctx, http.MethodPost, "/v1/sessions/"+sessionIDs[c]+"/keepalive", keys[c], nil, nil)
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
		_, err := e.ss.Keepalive(ctx, sessionIDs[c], "", time.Now(), 0)
		return err
	}

	warm := min(3*time.Second, dur)
	p.logf("keepalive: warm-up %v (API keepalives; also fills the key cache)", warm)
	if r := runLoad(ctx, clients, warm, apiOp); r.Errors > 0 {
		return nil, fmt.Errorf("warm-up: %d errors, first: %s", r.Errors, r.FirstErr)
	}
	res := &keepaliveResult{Clients: clients, DurationS: dur.Seconds()}
	p.logf("keepalive: raw UpdateItem, %d clients, %v", clients, dur)
	res.Raw = runLoad(ctx, clients, dur, rawOp)
	p.logf("keepalive: raw %.0f/s, p50 %.2f ms", res.Raw.OpsPerSec, res.Raw.Latency.P50)

	p.logf("keepalive: API keepalive, %d clients, %v", clients, dur)
	before := e.counter.snapshot()
	stopProf := prof.start("keepalive-api")
	res.API = runLoad(ctx, clients, dur, apiOp)
	stopProf()
	res.APIRequests = e.counter.since(before)
	if res.API.Ops > 0 {
		res.RequestsPerKeepalive = float64(res.APIRequests.Requests) / float64(res.API.Ops)
	}
	p.logf("keepalive: API %.0f/s, p50 %.2f ms, %.3f DynamoDB requests per keepalive", res.API.OpsPerSec, res.API.Latency.P50, res.RequestsPerKeepalive)

	p.logf("keepalive: in-process store keepalive, %d clients, %v", clients, dur)
	res.Direct = runLoad(ctx, clients, dur, directOp)
	p.logf("keepalive: direct %.0f/s, p50 %.2f ms", res.Direct.OpsPerSec, res.Direct.Latency.P50)
	if res.Raw.OpsPerSec > 0 {
		res.Ratio = res.API.OpsPerSec / res.Raw.OpsPerSec
	}
	for name, r := range map[string]loadResult{"raw": res.Raw, "api": res.API, "direct": res.Direct} {
		if r.Errors > 0 {
			return res, fmt.Errorf("keepalive %s run: %d errors, first: %s", name, r.Errors, r.FirstErr)
		}
	}
	return res, nil
}
