package faultinject

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"wspolicy/internal/ddbkit"
)

// Service ids as the SDK names them in the middleware context.
const (
	serviceDynamoDB    = "DynamoDB"
	serviceEventBridge = "EventBridge"
)

// txItemsKey is the stack value holding how many items a TransactWriteItems call writes.
type txItemsKey struct{}

// callMiddleware runs once per call (initialize step): it notes what the attempt faults need
// to know of the input, and injects PutEvents partial failures.
type callMiddleware struct{ in *Injector }

func (*callMiddleware) ID() string { return "FaultInjectCall" }

func (m *callMiddleware) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	switch p := in.Parameters.(type) {
	case *dynamodb.TransactWriteItemsInput:
		ctx = middleware.WithStackValue(ctx, txItemsKey{}, len(p.TransactItems))
	case *eventbridge.PutEventsInput:
		service, op, key := opKey(ctx)
		if r := m.in.rule(service, op); m.in.Enabled() && r.Rate > 0 && r.has(PartialFailure) {
			return m.partialFailure(ctx, in, next, p, r, key)
		}
	}
	return next.HandleInitialize(ctx, in)
}

// partialFailure fails each entry with probability r.Rate: the failed ones are left out of
// the request and come back with an error code, the others are sent.
func (m *callMiddleware) partialFailure(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler,
	p *eventbridge.PutEventsInput, r Rule, key string) (middleware.InitializeOutput, middleware.Metadata, error) {
	failed := make([]string, len(p.Entries)) // error code per entry, "" when sent
	sendInput := *p
	sendInput.Entries = nil
	for i, e := range p.Entries {
		if m.in.float64() < r.Rate {
			failed[i] = []string{"ThrottlingException", "InternalFailure"}[m.in.intN(2)]
			m.in.count(key, PartialFailure, failed[i], 1)
			continue
		}
		sendInput.Entries = append(sendInput.Entries, e)
	}
	sent := &eventbridge.PutEventsOutput{}
	var md middleware.Metadata
	if len(sendInput.Entries) > 0 {
		in.Parameters = &sendInput
		out, meta, err := next.HandleInitialize(ctx, in)
		if err != nil {
			return out, meta, err
		}
		res, ok := out.Result.(*eventbridge.PutEventsOutput)
		if !ok || len(res.Entries) != len(sendInput.Entries) {
			return out, meta, err // not a shape we can merge into: pass it on as it is
		}
		sent, md = res, meta
	}
	merged := &eventbridge.PutEventsOutput{ResultMetadata: sent.ResultMetadata}
	j := 0
	for _, code := range failed {
		if code == "" {
			e := sent.Entries[j]
			j++
			merged.Entries = append(merged.Entries, e)
			if e.ErrorCode != nil {
				merged.FailedEntryCount++
			}
			continue
		}
		merged.FailedEntryCount++
		merged.Entries = append(merged.Entries, ebtypes.PutEventsResultEntry{
			ErrorCode: aws.String(code), ErrorMessage: aws.String("injected failure of this entry"),
		})
	}
	return middleware.InitializeOutput{Result: merged}, md, nil
}

// attemptMiddleware runs once per attempt, right before the transport: it answers with an
// injected fault instead of sending, delays, or loses the response.
type attemptMiddleware struct{ in *Injector }

func (*attemptMiddleware) ID() string { return "FaultInjectAttempt" }

func (m *attemptMiddleware) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	service, op, key := opKey(ctx)
	m.in.countAttempt(key)
	r := m.in.rule(service, op)
	f, code, after := m.in.draw(r), "", false
	if f == Timeout || f == Reset {
		after = m.in.float64() < r.AfterSend
	}
	if p, ok := m.in.nextPlanned(service, op); ok {
		f, code, after = p.Fault, p.Code, p.AfterSend
		r.Delay = p.Delay
	}
	switch f {
	case Slow:
		m.in.count(key, Slow, "", 1)
		if err := ddbkit.Sleep(ctx, r.delay()); err != nil {
			return middleware.DeserializeOutput{}, middleware.Metadata{}, &smithy.CanceledError{Err: err}
		}
	case Throttle, ServerError:
		status, code, body := m.errorResponse(ctx, service, f, code)
		m.in.count(key, f, code, 1)
		return middleware.DeserializeOutput{RawResponse: fakeResponse(service, status, body)}, middleware.Metadata{}, nil
	case Timeout, Reset:
		return m.broken(ctx, in, next, f, r, after, key)
	}
	return next.HandleDeserialize(ctx, in)
}

// broken makes the attempt time out (after r's delay) or its connection reset, before sending
// or (after) once the service answered, whose answer is then dropped.
func (m *attemptMiddleware) broken(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler,
	f Fault, r Rule, after bool, key string) (middleware.DeserializeOutput, middleware.Metadata, error) {
	code := string(f) + "_before_send"
	if after {
		code = string(f) + "_after_send"
		out, md, err := next.HandleDeserialize(ctx, in)
		if err != nil {
			return out, md, err // a real failure came first: nothing to lose
		}
		if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Body != nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	m.in.count(key, f, code, 1)
	empty := middleware.DeserializeOutput{RawResponse: &smithyhttp.Response{Response: &http.Response{Header: http.Header{}, Body: http.NoBody}}}
	var cause error = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	if f == Timeout {
		if err := ddbkit.Sleep(ctx, r.delay()); err != nil {
			return empty, middleware.Metadata{}, &smithy.CanceledError{Err: err}
		}
		cause = timeoutError{}
	}
	target := ""
	if req, ok := in.Request.(*smithyhttp.Request); ok && req.URL != nil {
		target = req.URL.String()
	}
	return empty, middleware.Metadata{}, &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: target, Err: cause}}
}

// timeoutError is what net/http reports when a response does not come in time.
type timeoutError struct{}

func (timeoutError) Error() string   { return "net/http: timeout awaiting response headers (injected)" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// errorResponse is the status, error code and JSON body with which the service answers
// fault f; code picks the throttling error ("" draws one).
func (m *attemptMiddleware) errorResponse(ctx context.Context, service string, f Fault, code string) (int, string, []byte) {
	type errBody struct {
		Type                string `json:"__type"`
		Message             string `json:"message"`
		CancellationReasons []any  `json:"CancellationReasons,omitempty"`
	}
	if service == serviceEventBridge {
		if f == ServerError {
			return http.StatusInternalServerError, "InternalException", mustJSON(errBody{Type: "InternalException", Message: "injected internal error"})
		}
		return http.StatusBadRequest, "ThrottlingException", mustJSON(errBody{Type: "ThrottlingException", Message: "Rate exceeded (injected)"})
	}
	const ns = "com.amazonaws.dynamodb.v20120810#"
	if f == ServerError {
		return http.StatusInternalServerError, "InternalServerError", mustJSON(errBody{Type: ns + "InternalServerError", Message: "Internal server error (injected)"})
	}
	variants := 2
	items, isTx := middleware.GetStackValue(ctx, txItemsKey{}).(int)
	if isTx {
		variants = 3
	}
	variant := map[string]int{"ThrottlingException": 0, "ProvisionedThroughputExceededException": 1, "TransactionCanceledException": 2}
	v, ok := variant[code]
	if !ok || v >= variants {
		v = m.in.intN(variants)
	}
	switch v {
	case 0:
		return http.StatusBadRequest, "ThrottlingException", mustJSON(errBody{Type: ns + "ThrottlingException", Message: "Rate of requests exceeds the allowed throughput. (injected)"})
	case 1:
		return http.StatusBadRequest, "ProvisionedThroughputExceededException", mustJSON(errBody{Type: ns + "ProvisionedThroughputExceededException",
			Message: "The level of configured provisioned throughput for the table was exceeded. (injected)"})
	}
	// A transaction one of whose items was throttled: DynamoDB cancels it with per-item reasons.
	reasons := make([]any, max(items, 1))
	codes := ""
	for i := range reasons {
		c := "None"
		if i == 0 {
			c = "ThrottlingError"
			reasons[i] = map[string]string{"Code": c, "Message": "Throughput exceeds the current capacity of your table or index. (injected)"}
		} else {
			reasons[i] = map[string]string{"Code": c}
		}
		if i > 0 {
			codes += ", "
		}
		codes += c
	}
	return http.StatusBadRequest, "TransactionCanceledException/ThrottlingError", mustJSON(errBody{
		Type: ns + "TransactionCanceledException", Message: "Transaction cancelled, please refer cancellation reasons for specific reasons [" + codes + "]",
		CancellationReasons: reasons,
	})
}

// fakeResponse is an HTTP error response of the service's JSON protocol.
func fakeResponse(service string, status int, body []byte) *smithyhttp.Response {
	ct := "application/x-amz-json-1.0"
	if service == serviceEventBridge {
		ct = "application/x-amz-json-1.1"
	}
	h := http.Header{}
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Amzn-Requestid", fmt.Sprintf("faultinject-%d", len(body)))
	return &smithyhttp.Response{Response: &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
	}}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the values above always encode
	}
	return b
}
