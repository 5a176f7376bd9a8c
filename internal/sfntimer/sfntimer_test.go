package sfntimer_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"wspolicy/internal/countdown"
	"wspolicy/internal/sfntimer"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const machineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:WsPolicy-Countdown"

// fakeSFN keeps executions by ARN the way Step Functions treats standard executions: a repeated
// start of a running execution with the same input returns it, anything else with a taken
// name is ExecutionAlreadyExists; stopping a missing execution is ExecutionDoesNotExist.
type fakeSFN struct {
	executions map[string]fakeExecution
	calls      []string
	startErr   error
	stopErr    error
}

type fakeExecution struct {
	input  string
	status sfntypes.ExecutionStatus
}

func newFakeSFN() *fakeSFN { return &fakeSFN{executions: map[string]fakeExecution{}} }

func (f *fakeSFN) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.calls = append(f.calls, "start "+aws.ToString(in.Name))
	if f.startErr != nil {
		return nil, f.startErr
	}
	arn := strings.Replace(aws.ToString(in.StateMachineArn), ":stateMachine:", ":execution:", 1) + ":" + aws.ToString(in.Name)
	if ex, ok := f.executions[arn]; ok {
		if ex.status != sfntypes.ExecutionStatusRunning || ex.input != aws.ToString(in.Input) {
			return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists: '" + arn + "'")}
		}
	} else {
		f.executions[arn] = fakeExecution{input: aws.ToString(in.Input), status: sfntypes.ExecutionStatusRunning}
	}
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn), StartDate: aws.Time(t0)}, nil
}

func (f *fakeSFN) StopExecution(_ context.Context, in *sfn.StopExecutionInput, _ ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error) {
	arn := aws.ToString(in.ExecutionArn)
	f.calls = append(f.calls, "stop "+arn)
	if f.stopErr != nil {
		return nil, f.stopErr
	}
	ex, ok := f.executions[arn]
	if !ok {
		return nil, &sfntypes.ExecutionDoesNotExist{Message: aws.String("Execution Does Not Exist: '" + arn + "'")}
	}
	if ex.status == sfntypes.ExecutionStatusRunning {
		ex.status = sfntypes.ExecutionStatusAborted
		f.executions[arn] = ex
	}
	return &sfn.StopExecutionOutput{StopDate: aws.Time(t0)}, nil
}

func (f *fakeSFN) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	arn := aws.ToString(in.ExecutionArn)
	f.calls = append(f.calls, "describe "+arn)
	ex, ok := f.executions[arn]
	if !ok {
		return nil, &sfntypes.ExecutionDoesNotExist{Message: aws.String("no " + arn)}
	}
	return &sfn.DescribeExecutionOutput{ExecutionArn: aws.String(arn), Input: aws.String(ex.input), Status: ex.status}, nil
}

func TestExecutionARN(t *testing.T) {
	tests := []struct {
		name, machine, execution, want string
	}{
		{name: "aws", machine: machineARN, execution: "s_7k3qdw2xhcm4fzpa",
			want: "arn:aws:states:us-east-1:123456789012:execution:WsPolicy-Countdown:s_7k3qdw2xhcm4fzpa"},
		{name: "other partition", machine: "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:M", execution: "s.1-a_b",
			want: "arn:aws-cn:states:cn-north-1:123456789012:execution:M:s.1-a_b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sfntimer.ExecutionARN(tc.machine, tc.execution); got != tc.want {
				t.Errorf("ExecutionARN: got %q, want %q", got, tc.want)
			}
		})
	}
	if got, want := countdown.ExecutionName("s_7k3qdw2xhcm4fzpa"), "s_7k3qdw2xhcm4fzpa"; got != want {
		t.Errorf("ExecutionName: got %q, want %q", got, want)
	}
}

func TestStepFunctionsStart(t *testing.T) {
	warnAt, limitAt := t0.Add(55*time.Minute), t0.Add(time.Hour+1500*time.Millisecond)
	tests := []struct {
		name      string
		warnAt    time.Time
		wantInput string
	}{
		{name: "with a warning", warnAt: warnAt,
			wantInput: `{"session_id":"s_1","warning_at":"2026-03-01T12:55:00.000Z","limit_at":"2026-03-01T13:00:01.500Z"}`},
		{name: "warning already sent: the warning time is the limit", warnAt: time.Time{},
			wantInput: `{"session_id":"s_1","warning_at":"2026-03-01T13:00:01.500Z","limit_at":"2026-03-01T13:00:01.500Z"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSFN()
			tm := sfntimer.NewStepFunctions(f, machineARN)
			if err := tm.Start(context.Background(), "s_1", tc.warnAt, limitAt); err != nil {
				t.Fatal(err)
			}
			arn := "arn:aws:states:us-east-1:123456789012:execution:WsPolicy-Countdown:s_1"
			ex, ok := f.executions[arn]
			if !ok {
				t.Fatalf("no execution %s: got %v", arn, f.executions)
			}
			if ex.input != tc.wantInput {
				t.Errorf("input: got %s, want %s", ex.input, tc.wantInput)
			}
			var in countdown.ExecutionInput
			if err := json.Unmarshal([]byte(ex.input), &in); err != nil {
				t.Fatal(err)
			}
			for _, ts := range []string{in.WarningAt, in.LimitAt} {
				if _, err := time.Parse(time.RFC3339, ts); err != nil {
					t.Errorf("%q is not RFC 3339: %v", ts, err)
				}
			}
		})
	}
}

func TestStepFunctionsStartIsIdempotent(t *testing.T) {
	warnAt, limitAt := t0.Add(55*time.Minute), t0.Add(time.Hour)
	tests := []struct {
		name      string
		prepare   func(f *fakeSFN, tm *sfntimer.StepFunctions)
		wantErr   string
		wantCalls []string
	}{
		{
			name: "running with the same input",
			prepare: func(f *fakeSFN, tm *sfntimer.StepFunctions) {
				_ = tm.Start(context.Background(), "s_1", warnAt, limitAt)
			},
			wantCalls: []string{"start s_1", "start s_1"},
		},
		{
			name: "ended with the same input",
			prepare: func(f *fakeSFN, tm *sfntimer.StepFunctions) {
				_ = tm.Start(context.Background(), "s_1", warnAt, limitAt)
				arn := sfntimer.ExecutionARN(machineARN, "s_1")
				f.executions[arn] = fakeExecution{input: f.executions[arn].input, status: sfntypes.ExecutionStatusSucceeded}
			},
			wantCalls: []string{"start s_1", "start s_1", "describe " + sfntimer.ExecutionARN(machineARN, "s_1")},
		},
		{
			name: "another input",
			prepare: func(f *fakeSFN, tm *sfntimer.StepFunctions) {
				_ = tm.Start(context.Background(), "s_1", warnAt, limitAt.Add(time.Minute))
			},
			wantErr:   "exists with another input",
			wantCalls: []string{"start s_1", "start s_1", "describe " + sfntimer.ExecutionARN(machineARN, "s_1")},
		},
		{
			name: "start fails",
			prepare: func(f *fakeSFN, _ *sfntimer.StepFunctions) {
				f.startErr = &sfntypes.StateMachineDoesNotExist{Message: aws.String("gone")}
			},
			wantErr:   "StateMachineDoesNotExist",
			wantCalls: []string{"start s_1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSFN()
			tm := sfntimer.NewStepFunctions(f, machineARN)
			tc.prepare(f, tm)
			err := tm.Start(context.Background(), "s_1", warnAt, limitAt)
			if (err != nil) != (tc.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("second Start: got %v, want error containing %q", err, tc.wantErr)
			}
			if strings.Join(f.calls, "|") != strings.Join(tc.wantCalls, "|") {
				t.Errorf("calls: got %q, want %q", f.calls, tc.wantCalls)
			}
		})
	}
}

func TestStepFunctionsStop(t *testing.T) {
	arn := sfntimer.ExecutionARN(machineARN, "s_1")
	tests := []struct {
		name       string
		started    bool
		stopErr    error
		wantErr    bool
		wantStatus sfntypes.ExecutionStatus
	}{
		{name: "running execution", started: true, wantStatus: sfntypes.ExecutionStatusAborted},
		{name: "no execution (the session had none, or it was cleaned up)", started: false},
		{name: "service error", started: true, stopErr: errors.New("throttled"), wantErr: true, wantStatus: sfntypes.ExecutionStatusRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSFN()
			tm := sfntimer.NewStepFunctions(f, machineARN)
			if tc.started {
				if err := tm.Start(context.Background(), "s_1", t0, t0.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			f.stopErr = tc.stopErr
			f.calls = nil
			err := tm.Stop(context.Background(), "s_1")
			if (err != nil) != tc.wantErr {
				t.Errorf("Stop: got %v, want error %v", err, tc.wantErr)
			}
			if want := []string{"stop " + arn}; strings.Join(f.calls, "|") != strings.Join(want, "|") {
				t.Errorf("calls: got %q, want %q (the ARN derived without a read)", f.calls, want)
			}
			if tc.started && f.executions[arn].status != tc.wantStatus {
				t.Errorf("status: got %s, want %s", f.executions[arn].status, tc.wantStatus)
			}
		})
	}
}

// TestStepFunctionsStartBeyondAYear checks that a limit further away than MaxCountdown starts
// no execution (it would time out at Step Functions' one-year maximum) and says why; one just
// inside it starts.
func TestStepFunctionsStartBeyondAYear(t *testing.T) {
	f := newFakeSFN()
	tm := sfntimer.NewStepFunctions(f, machineARN)
	far := time.Now().Add(365 * 24 * time.Hour)
	err := tm.Start(context.Background(), "s_far", far.Add(-time.Hour), far)
	if err == nil || !strings.Contains(err.Error(), "sweep enforces") {
		t.Fatalf("a limit 365 days away: got %v, want an error saying the sweep enforces it", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls: %v, want none", f.calls)
	}
	near := time.Now().Add(sfntimer.MaxCountdown - time.Hour)
	if err := tm.Start(context.Background(), "s_near", near.Add(-time.Hour), near); err != nil {
		t.Fatalf("a limit inside MaxCountdown: %v", err)
	}
}
