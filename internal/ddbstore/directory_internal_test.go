package ddbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
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
		{"policy error passes", fmt.Errorf("ctx: %w", errGroupNotFound("g")), policy.KindNotFound, "group_not_found"},
		{"anything else is internal", plain, policy.KindInternal, string(policy.KindInternal)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := storeError(tt.err)
			if k, c := policy.KindOf(got), policy.CodeOf(got); k != tt.kind || c != tt.code {
				t.Errorf("storeError(%v): got %s/%s, want %s/%s", tt.err, k, c, tt.kind, tt.code)
			}
			if !errors.Is(got, tt.err) && !errors.Is(tt.err, got) {
				t.Errorf("storeError lost the cause %v", tt.err)
			}
		})
	}
	if storeError(nil) != nil {
		t.Errorf("storeError(nil): want nil")
	}
}

// Context added by the exported methods keeps the policy error findable.
func TestWrappedPolicyError(t *testing.T) {
	err := fmt.Errorf("change settings of group %s: %w", "g1", errVersionMismatch("g1", 3, 4))
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Kind != policy.KindPrecondition || pe.Code != "version_mismatch" {
		t.Fatalf("errors.As: got %+v", pe)
	}
	if want := "change settings of group g1: group g1 is at version 4, not 3"; err.Error() != want {
		t.Errorf("message: got %q, want %q", err.Error(), want)
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
			if _, got := conditionFailedAt(tt.err, tt.i); got != tt.want {
				t.Errorf("conditionFailedAt(%d): got %v, want %v", tt.i, got, tt.want)
			}
		})
	}
}

func TestDiffSettings(t *testing.T) {
	current := map[string]string{"a": "1", "b": `{"x": 1}`, "c": "true"}
	tests := []struct {
		name   string
		change policy.SettingsChange
		want   string
	}{
		{"set new", policy.SettingsChange{Set: map[string]json.RawMessage{"d": json.RawMessage("2")}}, "[{d  2}]"},
		{"replace", policy.SettingsChange{Set: map[string]json.RawMessage{"a": json.RawMessage("2")}}, "[{a 1 2}]"},
		{"equal up to whitespace", policy.SettingsChange{Set: map[string]json.RawMessage{"b": json.RawMessage(`{ "x":1 }`)}}, "[]"},
		{"unset", policy.SettingsChange{Unset: []string{"c", "c"}}, "[{c true }]"},
		{"unset what is not set", policy.SettingsChange{Unset: []string{"zz"}}, "[]"},
		{"ordered by name", policy.SettingsChange{Set: map[string]json.RawMessage{"z": json.RawMessage("0"), "a": json.RawMessage("0")},
			Unset: []string{"b"}}, `[{a 1 0} {b {"x": 1} } {z  0}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diffSettings(current, tt.change)
			if s := fmt.Sprint(got); s != tt.want && !(len(got) == 0 && tt.want == "[]") {
				t.Errorf("diffSettings: got %s, want %s", s, tt.want)
			}
		})
	}
}

func TestSettingPath(t *testing.T) {
	e, err := expression.NewBuilder().WithUpdate(
		expression.Set(settingPath("control_panel.show_logout"), expression.Value("true"))).Build()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(e.Update()), "SET #0.#1 = :0\n"; got != want {
		t.Errorf("update: got %q, want %q", got, want)
	}
	if got := fmt.Sprint(e.Names()); got != "map[#0:settings #1:control_panel.show_logout]" {
		t.Errorf("names: got %s", got)
	}
}

func TestRecordConversions(t *testing.T) {
	u := userRecord{ID: "u", Username: "n", Groups: []string{"z", "b", policy.AllUsersGroupID}}.user()
	if want := "[" + policy.AllUsersGroupID + " b z]"; fmt.Sprint(u.GroupIDs) != want {
		t.Errorf("user groups: got %v, want %s", u.GroupIDs, want)
	}
}
