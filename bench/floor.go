package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbstore"
)

// floorHandler is the least a keepalive can cost on this machine with net/http on both sides,
// the floor the API's CPU per keepalive is compared with: net/http's server reads the request
// (POST /v1/sessions/{id}/keepalive), net/http's client sends one UpdateItem of that session's
// item to DynamoDB Local (SET one attribute, no condition, nothing returned: the raw mode's
// request) over a kept-alive connection and reads the answer, and the server answers a small
// JSON body. No SDK, no signing (DynamoDB Local does not check the signature: the header is
// fixed), no key check, no log line.
//
// With sync, the request goes out on the handler's own goroutine instead: written in one
// system call on a pooled connection and its answer read there (http.ReadResponse), without
// net/http client's write and read goroutines: what a synchronous client would save.
type floorHandler struct {
	endpoint, table string
	client          *http.Client
	sync            *syncConns
}

func newFloorHandler(endpoint, table string, conns int, sync bool) *floorHandler {
	f := &floorHandler{endpoint: endpoint, table: table, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: 2 * conns, DisableCompression: true},
	}}
	if sync {
		f.sync = &syncConns{addr: strings.TrimPrefix(endpoint, "http://"), idle: make(chan *syncConn, 2*conns)}
	}
	return f
}

// syncConns is a pool of kept-alive connections to DynamoDB Local.
type syncConns struct {
	addr string
	idle chan *syncConn
}

type syncConn struct {
	c  net.Conn
	br *bufio.Reader
}

// roundTrip writes req (a whole HTTP/1.1 request) and reads the answer's status and body.
func (p *syncConns) roundTrip(req []byte) (int, error) {
	var c *syncConn
	select {
	case c = <-p.idle:
	default:
		nc, err := net.Dial("tcp", p.addr)
		if err != nil {
			return 0, err
		}
		c = &syncConn{c: nc, br: bufio.NewReader(nc)}
	}
	if _, err := c.c.Write(req); err != nil {
		_ = c.c.Close()
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		_ = c.c.Close()
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.Close {
		_ = c.c.Close()
		return resp.StatusCode, err
	}
	select {
	case p.idle <- c:
	default:
		_ = c.c.Close()
	}
	return resp.StatusCode, nil
}

// floorAuthorization is a well-formed SigV4 header DynamoDB Local accepts without checking it.
const floorAuthorization = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000"

func (f *floorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/v1/sessions/")
	id, ok2 := strings.CutSuffix(id, "/keepalive")
	if !ok || !ok2 {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body := f.updateItemBody(id, time.Now().UnixMilli())
	if f.sync != nil {
		b := make([]byte, 0, 512+len(body))
		b = append(b, "POST / HTTP/1.1\r\nHost: "...)
		b = append(b, f.sync.addr...)
		b = append(b, "\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.UpdateItem\r\nX-Amz-Date: 20260101T000000Z\r\nAuthorization: "+floorAuthorization+"\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n\r\n"...)
		b = append(b, body...)
		status, err := f.sync.roundTrip(b)
		if err != nil || status != http.StatusOK {
			http.Error(w, fmt.Sprintf("DynamoDB Local: %d %v", status, err), http.StatusBadGateway)
			return
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write([]byte(`{"status":"running"}`))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, f.endpoint, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header["Content-Type"] = []string{"application/x-amz-json-1.0"}
	req.Header["X-Amz-Target"] = []string{"DynamoDB_20120810.UpdateItem"}
	req.Header["X-Amz-Date"] = []string{"20260101T000000Z"}
	req.Header["Authorization"] = []string{floorAuthorization}
	resp, err := f.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		http.Error(w, "DynamoDB Local answered "+resp.Status, http.StatusBadGateway)
		return
	}
	w.Header()["Content-Type"] = []string{"application/json"}
	_, _ = w.Write([]byte(`{"status":"running"}`))
}

// updateItemBody is the raw mode's UpdateItem of session id's item, as JSON.
func (f *floorHandler) updateItemBody(id string, nowMs int64) []byte {
	key := ddbstore.SessionItemKey(id)
	b := make([]byte, 0, 256)
	b = append(b, `{"TableName":`...)
	b = strconv.AppendQuote(b, f.table)
	b = append(b, `,"Key":{`...)
	for i, name := range slices.Sorted(maps.Keys(key)) {
		if i > 0 {
			b = append(b, ',')
		}
		s, _ := key[name].(*ddbtypes.AttributeValueMemberS)
		if s == nil {
			panic(fmt.Sprintf("session key attribute %s is not a string", name))
		}
		b = strconv.AppendQuote(b, name)
		b = append(b, `:{"S":`...)
		b = strconv.AppendQuote(b, s.Value)
		b = append(b, '}')
	}
	b = append(b, `},"UpdateExpression":"SET bench_touch = :now","ExpressionAttributeValues":{":now":{"N":"`...)
	b = strconv.AppendInt(b, nowMs, 10)
	return append(b, `"}}}`...)
}
