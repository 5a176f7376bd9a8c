// Package ddbwire sends DynamoDB's UpdateItem as one hand-built, SigV4-signed HTTP request,
// without the AWS SDK's per-call middleware stack (assembled on every call: about 25 steps, 470
// allocations): the keepalive's write, the API's hot path (docs/capacity.md, "The keepalive's
// CPU"). Everything else comes from the SDK client's own options — credentials (the SDK's
// cached provider, so Lambda's refreshed credentials), region, endpoint, HTTP client (its
// connection pool), retryer, response checksums — and its errors have the SDK's types and
// shapes for the same answers (*smithy.OperationError around the modelled exception, e.g.
// *types.ConditionalCheckFailedException with the old item), so callers cannot tell the two
// paths apart.
package ddbwire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Client sends requests of the JSON protocol to DynamoDB with one SDK client's options.
type Client struct {
	http interface {
		Do(*http.Request) (*http.Response, error)
	}
	creds   aws.CredentialsProvider
	retryer aws.Retryer
	url     string
	host    string
	region  string
	crc     bool
	keys    signingKeys
	now     func() time.Time
}

// New builds a Client from a DynamoDB client's options (dynamodb.Client.Options()): it
// resolves the endpoint once, as the SDK would for an UpdateItem without an account id.
func New(ctx context.Context, o dynamodb.Options) (*Client, error) {
	if o.AccountIDEndpointMode == aws.AccountIDEndpointModeRequired {
		return nil, errors.New("ddbwire: account id endpoints are not supported")
	}
	if o.EndpointResolverV2 == nil || o.HTTPClient == nil || o.Credentials == nil || o.Retryer == nil || o.Region == "" {
		return nil, errors.New("ddbwire: incomplete client options")
	}
	ep, err := o.EndpointResolverV2.ResolveEndpoint(ctx, dynamodb.EndpointParameters{
		Region:                aws.String(o.Region),
		Endpoint:              o.BaseEndpoint,
		UseFIPS:               aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack:          aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
		AccountIdEndpointMode: aws.String(string(aws.AccountIDEndpointModeDisabled)),
	})
	if err != nil {
		return nil, fmt.Errorf("ddbwire: resolve endpoint: %w", err)
	}
	u := ep.URI
	if u.Path == "" {
		u.Path = "/"
	}
	creds := o.Credentials
	if _, cached := creds.(*aws.CredentialsCache); !cached {
		creds = aws.NewCredentialsCache(creds) // the SDK's config always caches; a bare provider may not
	}
	host := u.Host
	if p := u.Port(); (p == "443" && u.Scheme == "https") || (p == "80" && u.Scheme == "http") {
		host = u.Hostname() // as the SDK's signer: a default port is not part of the host
	}
	return &Client{http: o.HTTPClient, creds: creds, retryer: o.Retryer, url: u.String(), host: host, region: o.Region,
		crc: !o.DisableValidateResponseChecksum, now: time.Now}, nil
}

// target is the X-Amz-Target of an operation.
const targetUpdateItem = "DynamoDB_20120810.UpdateItem"

// UpdateItem sends in as DynamoDB's UpdateItem, with the SDK client's retries, and answers as
// the SDK's UpdateItem does. It takes the inputs the service sends: string, number, boolean and
// null values in Key and ExpressionAttributeValues, no legacy parameters and no consumed
// capacity or item collection metrics (ErrUnsupported otherwise: send those with the SDK).
func (c *Client) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	body, err := encodeUpdateItem(in)
	if err != nil {
		return nil, err
	}
	b, err := c.call(ctx, targetUpdateItem, body)
	if err != nil {
		return nil, &smithy.OperationError{ServiceID: dynamodb.ServiceID, OperationName: "UpdateItem", Err: err}
	}
	out := &dynamodb.UpdateItemOutput{}
	if out.Attributes, err = decodeAttributes(b); err != nil {
		return nil, &smithy.OperationError{ServiceID: dynamodb.ServiceID, OperationName: "UpdateItem",
			Err: &smithy.DeserializationError{Err: err, Snapshot: b}}
	}
	return out, nil
}

// ErrUnsupported is the answer to an input this package does not encode.
var ErrUnsupported = errors.New("ddbwire: unsupported input")

// call sends body to target until it succeeds, fails for good or the retryer gives up, as
// the SDK's retry middleware does (the same body every attempt, signed anew), and returns the
// answer's body.
func (c *Client) call(ctx context.Context, target string, body []byte) ([]byte, error) {
	hash := payloadHash(body)
	maxAttempts := c.retryer.MaxAttempts()
	for attempt := 1; ; attempt++ {
		b, err := c.send(ctx, target, body, hash)
		if err == nil {
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, &smithy.CanceledError{Err: ctx.Err()}
		}
		if !c.retryer.IsErrorRetryable(err) {
			return nil, err
		}
		if attempt >= maxAttempts {
			return nil, &retry.MaxAttemptsError{Attempt: attempt, Err: err}
		}
		d, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return nil, err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &smithy.CanceledError{Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// send is one attempt: sign, send, read the whole answer, check its CRC32, map a non-200
// answer to the SDK's error.
func (c *Client) send(ctx context.Context, target string, body []byte, hash string) ([]byte, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieve credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Host = c.host
	h := req.Header
	h["Content-Type"] = []string{contentType}
	h["X-Amz-Target"] = []string{target}
	h["Accept-Encoding"] = []string{"identity"}
	c.sign(req, creds, target, hash, c.now().UTC())
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &smithyhttp.RequestSendError{Err: err}
	}
	defer resp.Body.Close()
	b, err := readBody(resp)
	if err != nil {
		return nil, &smithyhttp.RequestSendError{Err: fmt.Errorf("read the answer: %w", err)}
	}
	if c.crc {
		if v := resp.Header.Get("X-Amz-Crc32"); v != "" {
			want, perr := strconv.ParseUint(v, 10, 32)
			if perr != nil || crc32.ChecksumIEEE(b) != uint32(want) {
				// As the SDK: a corrupted answer is sent again.
				return nil, &retryableError{fmt.Errorf("response checksum: header %s, body %d", v, crc32.ChecksumIEEE(b))}
			}
		}
	}
	if resp.StatusCode == http.StatusOK {
		return b, nil
	}
	return nil, &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp}, Err: decodeError(resp, b)},
		RequestID:     resp.Header.Get("X-Amzn-Requestid"),
	}
}

// readBody reads an answer whole, sized by its Content-Length when it has one.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n < 16<<20 {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(resp.Body)
}

// retryableError is an error the SDK's retryer retries (retry.RetryableError).
type retryableError struct{ err error }

func (e *retryableError) Error() string        { return e.err.Error() }
func (e *retryableError) Unwrap() error        { return e.err }
func (e *retryableError) RetryableError() bool { return true }

const contentType = "application/x-amz-json-1.0"
