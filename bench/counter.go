package main

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// ddbCounter counts the DynamoDB operations a client sends (one per API call, whatever the
// SDK's retries), by operation name, with the items they write and read.
type ddbCounter struct {
	mu  sync.Mutex
	cur ddbCount
}

// ddbCount is a snapshot of a ddbCounter, or the difference of two.
type ddbCount struct {
	Requests     int64            `json:"requests"`
	ItemsWritten int64            `json:"items_written"`
	ItemsRead    int64            `json:"items_read"`
	ByOperation  map[string]int64 `json:"by_operation"`
}

// snapshot returns the counts so far.
func (c *ddbCounter) snapshot() ddbCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.cur
	out.ByOperation = maps.Clone(c.cur.ByOperation)
	return out
}

// since returns what was counted after the snapshot before.
func (c *ddbCounter) since(before ddbCount) ddbCount { return diffCounts(c.snapshot(), before) }

// diffCounts is what was counted between snapshots before and now.
func diffCounts(now, before ddbCount) ddbCount {
	d := ddbCount{
		Requests:     now.Requests - before.Requests,
		ItemsWritten: now.ItemsWritten - before.ItemsWritten,
		ItemsRead:    now.ItemsRead - before.ItemsRead,
		ByOperation:  map[string]int64{},
	}
	for op, n := range now.ByOperation {
		if n -= before.ByOperation[op]; n != 0 {
			d.ByOperation[op] = n
		}
	}
	return d
}

// operations renders the per-operation counts, e.g. "GetItem 1, TransactWriteItems 1".
func (d ddbCount) operations() string {
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(d.ByOperation)) {
		parts = append(parts, op+" "+itoa(d.ByOperation[op]))
	}
	return strings.Join(parts, ", ")
}

func (c *ddbCounter) add(op string, written, read int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.ByOperation == nil {
		c.cur.ByOperation = map[string]int64{}
	}
	c.cur.Requests++
	c.cur.ItemsWritten += written
	c.cur.ItemsRead += read
	c.cur.ByOperation[op]++
}

// middleware is the counting step, added at the start of the Initialize step, so it sees
// each call once with its input and output.
func (c *ddbCounter) middleware(s *middleware.Stack) error {
	return s.Initialize.Add(middleware.InitializeMiddlewareFunc("benchCount",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			c.add(middleware.GetOperationName(ctx), itemsWritten(in.Parameters), itemsRead(in.Parameters, out.Result))
			return out, md, err
		}), middleware.Before)
}

// itemsWritten is how many items a write request puts, updates or deletes (condition checks
// of a transaction are not writes).
func itemsWritten(params any) int64 {
	switch p := params.(type) {
	case *dynamodb.PutItemInput, *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput:
		return 1
	case *dynamodb.TransactWriteItemsInput:
		n := int64(0)
		for _, it := range p.TransactItems {
			if it.Put != nil || it.Update != nil || it.Delete != nil {
				n++
			}
		}
		return n
	case *dynamodb.BatchWriteItemInput:
		n := int64(0)
		for _, reqs := range p.RequestItems {
			n += int64(len(reqs))
		}
		return n
	}
	return 0
}

// itemsRead is how many items a read returned.
func itemsRead(params, result any) int64 {
	switch r := result.(type) {
	case *dynamodb.GetItemOutput:
		if r.Item != nil {
			return 1
		}
	case *dynamodb.BatchGetItemOutput:
		n := int64(0)
		for _, items := range r.Responses {
			n += int64(len(items))
		}
		return n
	case *dynamodb.QueryOutput:
		return int64(r.Count)
	case *dynamodb.ScanOutput:
		return int64(r.Count)
	case *dynamodb.TransactGetItemsOutput:
		return int64(len(r.Responses))
	}
	return 0
}

// httpDoer is the SDK's HTTP client interface (aws.HTTPClient).
type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// countingHTTP counts the DynamoDB requests a client sends where they leave the process, by
// their X-Amz-Target: it sees the requests the SDK builds and those ddbwire builds (the
// keepalive's) alike, but no items, and each attempt of a retried request.
type countingHTTP struct {
	next httpDoer
	c    *ddbCounter
}

func (h countingHTTP) Do(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	h.c.add(op, 0, 0)
	return h.next.Do(r)
}
