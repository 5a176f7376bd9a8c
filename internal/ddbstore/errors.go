package ddbstore

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"wspolicy/internal/policy"
)

// Cancellation reason codes of TransactWriteItems, one per item of the transaction.
const (
	reasonNone            = "None"
	reasonConditionFailed = "ConditionalCheckFailed"
	reasonConflict        = "TransactionConflict"
	reasonThrottled       = "ThrottlingError"
	reasonThroughput      = "ProvisionedThroughputExceeded"
)

// storeError turns an error from the SDK that the caller did not interpret into a policy
// error where the cause is known: anything a retry may cure becomes KindUnavailable
// "retry_later", a transaction cancelled by a condition becomes KindConflict. Errors that
// already are policy errors, and bugs (validation errors, a missing table), pass unchanged.
func storeError(err error) error {
	if err == nil {
		return nil
	}
	var pe *policy.Error
	if errors.As(err, &pe) {
		return err
	}
	if retryable(err) {
		return &policy.Error{Kind: policy.KindUnavailable, Code: policy.CodeRetryLater,
			Message: "the database is busy, retry later", Err: err}
	}
	if reasons, ok := cancellationReasons(err); ok {
		for _, r := range reasons {
			if aws.ToString(r.Code) == reasonConditionFailed {
				return &policy.Error{Kind: policy.KindConflict, Code: policy.CodeConcurrentChange,
					Message: "the data changed while it was being written", Err: err}
			}
		}
	}
	return err
}

// isValidation reports whether DynamoDB refused a request as malformed (ValidationException):
// a bug, unless the request carried something a caller made up (a page token).
func isValidation(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException"
}

// retryable reports whether err is throttling, a server-side failure, a timeout, a broken
// connection or a transaction conflict.
func retryable(err error) bool {
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
		return transactionCollided(canceledErr.CancellationReasons)
	case errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultServer:
		return true
	case errors.As(err, &response) && response.HTTPStatusCode() >= 500:
		return true
	}
	return false
}

// transactionCollided reports whether a transaction was cancelled only because it collided
// with other writes or was throttled, not because a condition failed: retrying it may succeed.
func transactionCollided(reasons []ddbtypes.CancellationReason) bool {
	collided := false
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case reasonConflict, reasonThrottled, reasonThroughput:
			collided = true
		case reasonConditionFailed:
			return false
		case "", reasonNone:
		default:
			return false
		}
	}
	return collided
}

// cancellationReasons returns the per-item reasons of a cancelled transaction.
func cancellationReasons(err error) ([]ddbtypes.CancellationReason, bool) {
	var tc *ddbtypes.TransactionCanceledException
	if !errors.As(err, &tc) {
		return nil, false
	}
	return tc.CancellationReasons, true
}

// conditionFailedAt reports whether item i of a cancelled transaction failed its condition,
// and returns the item's old image when the request asked for it.
func conditionFailedAt(err error, i int) (map[string]ddbtypes.AttributeValue, bool) {
	reasons, ok := cancellationReasons(err)
	if !ok || i >= len(reasons) || aws.ToString(reasons[i].Code) != reasonConditionFailed {
		return nil, false
	}
	return reasons[i].Item, true
}

// retryLater is the error of an operation that gave up after racing concurrent writers.
func retryLater(what string) *policy.Error {
	return policy.Errorf(policy.KindUnavailable, policy.CodeRetryLater, "%s kept changing concurrently, retry later", what)
}

func errGroupNotFound(id string) *policy.Error {
	return policy.Errorf(policy.KindNotFound, policy.CodeGroupNotFound, "group %s not found", id)
}

func errUserNotFound(id string) *policy.Error {
	return policy.Errorf(policy.KindNotFound, policy.CodeUserNotFound, "user %s not found", id)
}

func errKeyNotFound() *policy.Error {
	return policy.Errorf(policy.KindNotFound, policy.CodeKeyNotFound, "API key not found")
}

func errVersionMismatch(id string, want, have int64) *policy.Error {
	return policy.Errorf(policy.KindPrecondition, policy.CodeVersionMismatch,
		"group %s is at version %d, not %d", id, have, want)
}

func errGroupNameTaken(name string) *policy.Error {
	return &policy.Error{Kind: policy.KindConflict, Code: policy.CodeGroupNameTaken, Field: "name",
		Message: "a group named " + strconv.Quote(name) + " already exists"}
}

func errUsernameTaken(name string) *policy.Error {
	return &policy.Error{Kind: policy.KindConflict, Code: policy.CodeUsernameTaken, Field: "username",
		Message: "a user named " + strconv.Quote(name) + " already exists"}
}
