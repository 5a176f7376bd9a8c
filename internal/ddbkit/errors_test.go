package ddbkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"wspolicy/internal/policy"
)

func cancelled(codes ...string) error {
	reasons := make([]ddbtypes.CancellationReason, len(codes))
	for i, c := range codes {
		reasons[i] = ddbtypes.CancellationReason{Code: aws.String(c)}
	}
	return &ddbtypes.TransactionCanceledException{Message: aws.String("cancelled"), CancellationReasons: reasons}
}

func TestStoreError(t *testing.T) {
	plain := errors.New("validation: bad expression")
	tests := []struct {
		name string
		err  error
		kind policy.Kind
		code string
	}{
		{"throughput", &ddbtypes.ProvisionedThroughputExceededException{}, policy.KindUnavailable, policy.CodeRetryLater},
		{"throttling", &ddbtypes.ThrottlingException{}, policy.KindUnavailable, policy.CodeRetryLater},
		{"request limit", &ddbtypes.RequestLimitExceeded{}, policy.KindUnavailable, policy.CodeRetryLater},
		{"internal server error", &ddbtypes.InternalServerError{}, policy.KindUnavailable, policy.CodeRetryLater},
		{"transaction conflict", &ddbtypes.TransactionConflictException{}, policy.KindUnavailable, policy.CodeRetryLater},
		{"timeout", fmt.Errorf("get: %w", context.DeadlineExceeded), policy.KindUnavailable, policy.CodeRetryLater},
		{"http 503", &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 503}}, Err: plain},
			policy.KindUnavailable, policy.CodeRetryLater},
		{"cancelled by collisions", cancelled("None", "TransactionConflict"), policy.KindUnavailable, policy.CodeRetryLater},
		{"cancelled by throttling", cancelled("ThrottlingError", "None"), policy.KindUnavailable, policy.CodeRetryLater},
		{"cancelled by a condition", cancelled("None", "ConditionalCheckFailed", "TransactionConflict"), policy.KindConflict, "concurrent_change"},
		{"policy error passes", fmt.Errorf("ctx: %w", policy.Errorf(policy.KindNotFound, policy.CodeGroupNotFound, "group g not found")), policy.KindNotFound, "group_not_found"},
		{"anything else is internal", plain, policy.KindInternal, string(policy.KindInternal)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := StoreError(tt.err)
			if k, c := policy.KindOf(got), policy.CodeOf(got); k != tt.kind || c != tt.code {
				t.Errorf("StoreError(%v): got %s/%s, want %s/%s", tt.err, k, c, tt.kind, tt.code)
			}
			if !errors.Is(got, tt.err) && !errors.Is(tt.err, got) {
				t.Errorf("storeError lost the cause %v", tt.err)
			}
		})
	}
	if StoreError(nil) != nil {
		t.Errorf("StoreError(nil): want nil")
	}
}

func TestConditionFailedAt(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", cancelled("None", "ConditionalCheckFailed"))
	tests := []struct {
		name string
		err  error
		i    int
		want bool
	}{
		{"passing item", err, 0, false},
		{"failing item", err, 1, true},
		{"index past the reasons", err, 2, false},
		{"not a cancellation", errors.New("x"), 0, false},
		{"nil", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := ConditionFailedAt(tt.err, tt.i); got != tt.want {
				t.Errorf("ConditionFailedAt(%d): got %v, want %v", tt.i, got, tt.want)
			}
		})
	}
}
