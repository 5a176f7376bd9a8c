package ddbkit

import (
	"context"
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"wspolicy/internal/policy"
)

// Cancellation reason codes of TransactWriteItems, one per item of the transaction.
const (
	ReasonNone            = "None"
	ReasonConditionFailed = "ConditionalCheckFailed"
	ReasonConflict        = "TransactionConflict"
	ReasonThrottled       = "ThrottlingError"
	ReasonThroughput      = "ProvisionedThroughputExceeded"
)

// StoreError turns an error from the SDK that the caller did not interpret into a policy
// error where the cause is known: anything a retry may cure becomes KindUnavailable
// "retry_later", a transaction cancelled by a condition becomes KindConflict. Errors that
// already are policy errors, and bugs (validation errors, a missing table), pass unchanged.
func StoreError(err error) error {
	if err == nil {
		return nil
	}
	var pe *policy.Error
	if errors.As(err, &pe) {
		return err
	}
	if Retryable(err) {
		return &policy.Error{Kind: policy.KindUnavailable, Code: policy.CodeRetryLater,
			Message: "the database is busy, retry later", Err: err}
	}
	if reasons, ok := CancellationReasons(err); ok {
		for _, r := range reasons {
			if aws.ToString(r.Code) == ReasonConditionFailed {
				return &policy.Error{Kind: policy.KindConflict, Code: policy.CodeConcurrentChange,
					Message: "the data changed while it was being written", Err: err}
			}
		}
	}
	return err
}

// IsValidation reports whether DynamoDB refused a request as malformed (ValidationException):
// a bug, unless the request carried something a caller made up (a page token).
func IsValidation(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException"
}

// Retryable reports whether err is throttling, a server-side failure, a timeout, a broken
// connection or a transaction conflict.
func Retryable(err error) bool {
	var (
		connErr     interface{ ConnectionError() bool }
		throughput  *ddbtypes.ProvisionedThroughputExceededException
		throttling  *ddbtypes.ThrottlingException
		limit       *ddbtypes.RequestLimitExceeded
		internal    *ddbtypes.InternalServerError
		txConflict  *ddbtypes.TransactionConflictException
		txProgress  *ddbtypes.TransactionInProgressException
		response    *smithyhttp.ResponseError
		netErr      net.Error
		apiErr      smithy.APIError
		canceledErr *ddbtypes.TransactionCanceledException
	)
	switch {
	case errors.As(err, &throughput), errors.As(err, &throttling), errors.As(err, &limit),
		errors.As(err, &internal), errors.As(err, &txConflict), errors.As(err, &txProgress):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &netErr) && netErr.Timeout():
		return true
	case errors.As(err, &connErr) && connErr.ConnectionError():
		// The request could not be sent or its answer not read (a reset connection): it may or
		// may not have been applied, and a retry may succeed.
		return true
	case errors.As(err, &canceledErr):
		return TransactionCollided(canceledErr.CancellationReasons)
	case errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultServer:
		return true
	case errors.As(err, &response) && response.HTTPStatusCode() >= 500:
		return true
	}
	return false
}

// TransactionCollided reports whether a transaction was cancelled only because it collided
// with other writes or was throttled, not because a condition failed: retrying it may succeed.
func TransactionCollided(reasons []ddbtypes.CancellationReason) bool {
	collided := false
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case ReasonConflict, ReasonThrottled, ReasonThroughput:
			collided = true
		case ReasonConditionFailed:
			return false
		case "", ReasonNone:
		default:
			return false
		}
	}
	return collided
}

// CancellationReasons returns the per-item reasons of a cancelled transaction.
func CancellationReasons(err error) ([]ddbtypes.CancellationReason, bool) {
	var tc *ddbtypes.TransactionCanceledException
	if !errors.As(err, &tc) {
		return nil, false
	}
	return tc.CancellationReasons, true
}

// ConditionFailedAt reports whether item i of a cancelled transaction failed its condition,
// and returns the item's old image when the request asked for it.
func ConditionFailedAt(err error, i int) (map[string]ddbtypes.AttributeValue, bool) {
	reasons, ok := CancellationReasons(err)
	if !ok || i >= len(reasons) || aws.ToString(reasons[i].Code) != ReasonConditionFailed {
		return nil, false
	}
	return reasons[i].Item, true
}
