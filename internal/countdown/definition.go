package countdown

import (
	"encoding/json"
	"fmt"
	"time"
)

// TimeLimitFunctionArnKey is the definition substitution key the deployment replaces with the
// task function's ARN (Step Functions DefinitionSubstitutions).
const TimeLimitFunctionArnKey = "TimeLimitFunctionArn"

// Actions the state machine sends to the task function in TaskPayload.Action.
const (
	ActionWarn   = "warn"
	ActionExpire = "expire"
)

// State names of the countdown state machine.
const (
	StateWaitForWarning = "WaitForWarning"
	StateWarn           = "Warn"
	StateWaitForLimit   = "WaitForLimit"
	StateExpire         = "Expire"
	StateDone           = "Done"
)

// ExecutionInput is the input an execution of the countdown state machine is started with.
// Both times are RFC 3339 timestamps; a time already past makes its wait end at once.
type ExecutionInput struct {
	SessionID string `json:"session_id"`
	WarningAt string `json:"warning_at"`
	LimitAt   string `json:"limit_at"`
}

// TaskPayload is what the task function receives from the state machine: the action and the
// execution input it came from, so the function can ignore a countdown that is no longer current.
type TaskPayload struct {
	Action    string `json:"action"`
	SessionID string `json:"session_id"`
	WarningAt string `json:"warning_at"`
	LimitAt   string `json:"limit_at"`
}

// lambdaRetriableErrors are the invoke errors worth retrying: the service's own, throttling,
// the client's timeout and Lambda.Unknown (the function ran out of memory or time, or failed in a
// way Lambda does not name) — AWS's recommended list for Lambda tasks; the task is idempotent.
var lambdaRetriableErrors = []string{
	"Lambda.ClientExecutionTimeoutException",
	"Lambda.Unknown",
	"Lambda.ServiceException",
	"Lambda.AWSLambdaException",
	"Lambda.SdkClientException",
	"Lambda.TooManyRequestsException",
	"States.Timeout",
}

// Definition returns the Amazon States Language JSON of the time-limit countdown, a STANDARD
// state machine: wait until warning_at, invoke the task function with action "warn", wait until
// limit_at, invoke it with action "expire", succeed. The task function is named by the
// placeholder ${TimeLimitFunctionArn} (see TimeLimitFunctionArnKey). Each invocation is retried
// on Lambda service errors and, when the task answers NotDueError (it fired early), until it
// is due. A warning that still fails after its retries does not stop the countdown; a failed
// expiry fails the execution, which an alarm reports and the sweep backs up.
func Definition() string {
	def := map[string]any{
		"Comment": "Session time-limit countdown: warn at warning_at, expire at limit_at.",
		"StartAt": StateWaitForWarning,
		"States": map[string]any{
			StateWaitForWarning: map[string]any{
				"Type":          "Wait",
				"TimestampPath": "$.warning_at",
				"Next":          StateWarn,
			},
			StateWarn: withNext(invoke(ActionWarn), StateWaitForLimit, map[string]any{
				"Catch": []any{map[string]any{
					"ErrorEquals": []string{"States.ALL"},
					"ResultPath":  "$.warn_error",
					"Next":        StateWaitForLimit,
				}},
			}),
			StateWaitForLimit: map[string]any{
				"Type":          "Wait",
				"TimestampPath": "$.limit_at",
				"Next":          StateExpire,
			},
			StateExpire: withNext(invoke(ActionExpire), StateDone, nil),
			StateDone:   map[string]any{"Type": "Succeed"},
		},
	}
	b, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("countdown: marshal definition: %v", err)) // static data; cannot happen
	}
	return string(b)
}

// invoke is a Task state invoking the task function with the given action; its result is
// discarded so the execution input reaches the next state unchanged.
func invoke(action string) map[string]any {
	return map[string]any{
		"Type":     "Task",
		"Resource": "arn:aws:states:::lambda:invoke",
		"Parameters": map[string]any{
			"FunctionName": "${" + TimeLimitFunctionArnKey + "}",
			"Payload": map[string]any{
				"action":       action,
				"session_id.$": "$.session_id",
				"warning_at.$": "$.warning_at",
				"limit_at.$":   "$.limit_at",
			},
		},
		"ResultPath":     nil,
		"TimeoutSeconds": 60,
		"Retry": []any{
			map[string]any{
				"ErrorEquals":     lambdaRetriableErrors,
				"IntervalSeconds": 1,
				"MaxAttempts":     6,
				"BackoffRate":     2,
				"MaxDelaySeconds": 30,
				"JitterStrategy":  "FULL",
			},
			// The task fired too early (clock skew beyond EarlyTolerance): try again when
			// it should be due, after 1, 2, 4 and 8 s.
			map[string]any{
				"ErrorEquals":     []string{NotDueErrorName},
				"IntervalSeconds": 1,
				"MaxAttempts":     4,
				"BackoffRate":     2,
			},
		},
	}
}

// withNext sets the state's successor and merges extra fields into it.
func withNext(state map[string]any, next string, extra map[string]any) map[string]any {
	state["Next"] = next
	for k, v := range extra {
		state[k] = v
	}
	return state
}

// TimeFormat is how execution inputs write times: RFC 3339 in UTC with milliseconds, the
// precision sessions keep. (Step Functions waits truncate them to the second, so an action
// may fire up to a second early: see EarlyTolerance.)
const TimeFormat = "2006-01-02T15:04:05.000Z"

// ExecutionName is the name of a session's countdown execution: the session id itself (ids are
// 1 to 64 letters, digits, '_', '.' and '-', all allowed in execution names, which may be 80
// long). Names stay taken for 90 days after an execution ends, and session ids are never
// reused.
func ExecutionName(sessionID string) string { return sessionID }

// NewExecutionInput is the input of a session's countdown execution. Without a warning (warnAt
// zero or not before limitAt) the warning time is the limit: the Warn state then finds the
// warning sent or the session past its limit.
func NewExecutionInput(sessionID string, warnAt, limitAt time.Time) ExecutionInput {
	if warnAt.IsZero() || !warnAt.Before(limitAt) {
		warnAt = limitAt
	}
	return ExecutionInput{
		SessionID: sessionID,
		WarningAt: warnAt.UTC().Format(TimeFormat),
		LimitAt:   limitAt.UTC().Format(TimeFormat),
	}
}
