package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// client sends requests to the API and records each in a recorder under the current phase.
type client struct {
	base  string
	admin string
	http  *http.Client
	rec   *recorder
}

func newClient(base, adminKey string, rec *recorder) *client {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}
	return &client{base: strings.TrimRight(base, "/"), admin: adminKey, rec: rec,
		http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// call is one request: who sends it, what, and which statuses are right.
type call struct {
	phase  string
	route  string // the route pattern the figures are kept under
	method string
	path   string
	key    string // "" sends the admin key
	body   any
	ifVer  int64 // If-Match version, 0 for none
	want   []int
	out    any // decoded from a successful answer when not nil
}

// do sends c and reports the status; a status not in c.want, a transport error or an
// undecodable body is recorded as an error of the route (and returned).
func (cl *client) do(ctx context.Context, c call) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rd io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	// A request once sent runs to its end: the run stops between requests, never by
	// abandoning one (which the server would log as a 503 it gave).
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), c.method, cl.base+c.path, rd)
	if err != nil {
		return 0, err
	}
	key := c.key
	if key == "" {
		key = cl.admin
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.ifVer > 0 {
		req.Header.Set("If-Match", fmt.Sprintf(`"%d"`, c.ifVer))
	}
	start := time.Now()
	resp, err := cl.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err() // the run is stopping: not the service's failure
		}
		cl.rec.add(c.phase, c.route, time.Since(start), err.Error())
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	d := time.Since(start)
	switch {
	case err != nil:
		err = fmt.Errorf("%s %s: read answer: %w", c.method, c.path, err)
	case !slices.Contains(c.want, resp.StatusCode):
		err = fmt.Errorf("%s %s → %d %s (want %v)", c.method, c.path, resp.StatusCode, bytes.TrimSpace(body), c.want)
	case c.out != nil:
		if derr := json.Unmarshal(body, c.out); derr != nil {
			err = fmt.Errorf("%s %s: decode %s: %w", c.method, c.path, body, derr)
		}
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	cl.rec.add(c.phase, c.route, d, msg)
	return resp.StatusCode, err
}
