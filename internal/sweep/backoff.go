package sweep

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"
)

// Back-off of a throttled store call: the SDK has already retried it (3 attempts, with its
// own back-off) when the sweep sees the error, so the sweep waits longer — base doubled per
// retry up to backoffCap, with full jitter so that the workers do not come back together —
// and gives up after backoffRetries retries; the session then stays due for the next run.
const (
	backoffBase    = 100 * time.Millisecond
	backoffCap     = 3 * time.Second
	backoffRetries = 5
)

// throttleCodes are DynamoDB's throttling errors (ErrorCode of the SDK's typed errors).
var throttleCodes = []string{"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}

// throttleReasons are the cancellation reasons of a transaction DynamoDB throttled.
var throttleReasons = []string{"ThrottlingError", "ProvisionedThroughputExceeded"}

// throttled reports whether err is DynamoDB throttling: a throttling error, or a transaction
// cancelled because an item was throttled. The sweep must not depend on the AWS SDK, so it
// looks at the error's code (smithy's APIError interface) and, for a cancelled transaction,
// at the reasons its message lists.
func throttled(err error) bool {
	var coded interface{ ErrorCode() string }
	if !errors.As(err, &coded) {
		return false
	}
	code := coded.ErrorCode()
	for _, c := range throttleCodes {
		if code == c {
			return true
		}
	}
	if code != "TransactionCanceledException" {
		return false
	}
	msg := err.Error()
	for _, reason := range throttleReasons {
		if strings.Contains(msg, reason) {
			return true
		}
	}
	return false
}

// backoff runs call, and again after a jittered, growing wait each time DynamoDB throttles it,
// up to backoffRetries retries and never past the run's budget or ctx. It returns the last
// error. Each retry is counted in the report.
func (r *run) backoff(ctx context.Context, call func() error) error {
	wait := backoffBase
	for retry := 0; ; retry++ {
		err := call()
		if err == nil || retry == backoffRetries || !throttled(err) {
			return err
		}
		d := time.Duration(rand.Int64N(int64(wait)) + 1)
		if !r.deadline.IsZero() && time.Now().Add(d).After(r.deadline) {
			return err
		}
		r.update(func(rep *Report) { rep.Throttled++ })
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, backoffCap)
	}
}
