// Package sfntimer is the Step Functions adapter of countdown.Timer: each session's countdown
// runs as an execution of the countdown state machine (countdown.Definition). It is the only
// package of the countdown that imports the AWS SDK; services see only countdown.Timer.
package sfntimer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"wspolicy/internal/countdown"
)

// SFNAPI is the part of the Step Functions client the countdown uses; *sfn.Client implements
// it. The caller needs states:StartExecution on the state machine and states:StopExecution and
// states:DescribeExecution on its executions.
type SFNAPI interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	StopExecution(ctx context.Context, in *sfn.StopExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// StepFunctions is a Timer that runs each countdown as an execution of the countdown state
// machine (see Definition), named after the session, so that stopping it needs no read.
type StepFunctions struct {
	client SFNAPI
	arn    string
}

// NewStepFunctions returns a Timer starting executions of the state machine stateMachineARN.
func NewStepFunctions(client SFNAPI, stateMachineARN string) *StepFunctions {
	return &StepFunctions{client: client, arn: stateMachineARN}
}

// MaxCountdown is the longest countdown Start runs as an execution: a standard execution lasts
// a year at most (then it times out, which an alarm reports), and the countdown needs a margin
// for the expiry's retries. A session_time_limit may be up to 365 days; for a limit further
// away Start fails (the caller logs it) and the minutely sweep enforces the limit, as it does
// for any countdown that did not start.
const MaxCountdown = 360 * 24 * time.Hour

// ExecutionARN is the ARN of the execution named name of the state machine stateMachineARN:
// "arn:aws:states:<region>:<account>:stateMachine:<machine>" becomes
// "arn:aws:states:<region>:<account>:execution:<machine>:<name>".
func ExecutionARN(stateMachineARN, name string) string {
	return strings.Replace(stateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
}

// Start starts the session's countdown execution. Starting it again is success: Step Functions
// answers a repeated start of a running standard execution with the same input as the first,
// and ExecutionAlreadyExists (the execution ended, or its input differs) is success when the
// existing execution's input is the same; a different input is an error.
func (t *StepFunctions) Start(ctx context.Context, sessionID string, warnAt, limitAt time.Time) error {
	if limitAt.IsZero() {
		return errors.New("countdown: start without a limit")
	}
	if away := time.Until(limitAt); away > MaxCountdown {
		return fmt.Errorf("countdown: the limit is %s away, beyond the %s a Step Functions execution may wait (it runs for a year at most); the sweep enforces it",
			away.Round(time.Hour), MaxCountdown)
	}
	want := countdown.NewExecutionInput(sessionID, warnAt, limitAt)
	in, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("countdown input: %w", err)
	}
	name := countdown.ExecutionName(sessionID)
	_, err = t.client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(t.arn),
		Name:            aws.String(name),
		Input:           aws.String(string(in)),
	})
	var exists *sfntypes.ExecutionAlreadyExists
	if !errors.As(err, &exists) {
		if err != nil {
			return fmt.Errorf("start execution %s: %w", name, err)
		}
		return nil
	}
	arn := ExecutionARN(t.arn, name)
	out, err := t.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("describe existing execution %s: %w", arn, err)
	}
	var have countdown.ExecutionInput
	if err := json.Unmarshal([]byte(aws.ToString(out.Input)), &have); err != nil || have != want {
		return fmt.Errorf("execution %s exists with another input (%s), want %s", arn, aws.ToString(out.Input), in)
	}
	return nil
}

// Stop stops the session's countdown execution; one that does not exist is success. It sends
// no error or cause, so it needs no KMS permission on an encrypted state machine.
func (t *StepFunctions) Stop(ctx context.Context, sessionID string) error {
	arn := ExecutionARN(t.arn, countdown.ExecutionName(sessionID))
	_, err := t.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arn)})
	var missing *sfntypes.ExecutionDoesNotExist
	if err != nil && !errors.As(err, &missing) {
		return fmt.Errorf("stop execution %s: %w", arn, err)
	}
	return nil
}
