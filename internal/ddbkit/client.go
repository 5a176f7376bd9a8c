// Package ddbkit is the generic DynamoDB plumbing under ddbstore: the client, reads that page
// and batch, transactions built item by item and resubmitted on collisions, retry pauses, and
// the mapping of DynamoDB's errors onto policy errors. It knows the table's key attributes
// (tabledef) but none of its records.
package ddbkit

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	"wspolicy/internal/awsconf"
)

// maxIdleConns is how many idle connections to DynamoDB the client keeps. The SDK's default
// keeps 10 per host: a process serving more concurrent requests than that (the local run, a
// busy Lambda instance's sweeps) closes connections after use and opens new ones, with a TLS
// handshake each on AWS.
const maxIdleConns = 256

// NewClient builds a DynamoDB client from the default AWS configuration. A non-empty endpoint
// (DynamoDB Local) overrides the service address and uses awsconf.Load's local configuration
// (static dummy credentials, region us-east-1).
//
// Every request of the service goes through it, the keepalive first, so it trims the SDK's
// per-request work: the connection pool keeps maxIdleConns idle connections; the standard
// retryer (3 attempts, backoff) has no client-side rate limiter (a token bucket every attempt
// takes from, which would turn a burst of throttling into client-made errors); and the
// endpoint, which the SDK resolves by evaluating DynamoDB's rule set on every request, is
// resolved once per set of parameters and remembered.
func NewClient(ctx context.Context, endpoint string, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	cfg, err := awsconf.Load(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = maxIdleConns
			tr.MaxIdleConnsPerHost = maxIdleConns
		})
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.RateLimiter = ratelimit.None })
		o.EndpointResolverV2 = &cachedEndpoints{next: dynamodb.NewDefaultEndpointResolverV2()}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			// DynamoDB Local's CRC32 headers do not always match what the SDK computes for
			// cancelled transactions; the SDK then logs a spurious warning on every one.
			o.DisableValidateResponseChecksum = true
		}
		for _, f := range optFns {
			f(o)
		}
	}), nil
}

// cachedEndpoints remembers the endpoint resolved for each set of parameters (region, base
// endpoint, FIPS, dual stack, account id and its mode, resource ARN): they are the same on
// almost every request, and the rule set's evaluation is not free.
type cachedEndpoints struct {
	next dynamodb.EndpointResolverV2
	m    sync.Map // string → smithyendpoints.Endpoint
}

func (c *cachedEndpoints) ResolveEndpoint(ctx context.Context, p dynamodb.EndpointParameters) (smithyendpoints.Endpoint, error) {
	if len(p.ResourceArnList) > 0 {
		return c.next.ResolveEndpoint(ctx, p)
	}
	key := endpointKey(p)
	if e, ok := c.m.Load(key); ok {
		return e.(smithyendpoints.Endpoint), nil
	}
	e, err := c.next.ResolveEndpoint(ctx, p)
	if err == nil {
		c.m.Store(key, e)
	}
	return e, err
}

func endpointKey(p dynamodb.EndpointParameters) string {
	var b strings.Builder
	for _, s := range []*string{p.Region, p.Endpoint, p.AccountId, p.AccountIdEndpointMode, p.ResourceArn} {
		if s != nil {
			b.WriteString(*s)
		}
		b.WriteByte(0)
	}
	for _, f := range []*bool{p.UseFIPS, p.UseDualStack} {
		if f != nil {
			b.WriteString(strconv.FormatBool(*f))
		}
		b.WriteByte(0)
	}
	return b.String()
}
