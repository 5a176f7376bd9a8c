package countdown

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// aslState is the part of an ASL state the tests look at.
type aslState struct {
	Type          string
	Next          string
	End           bool
	TimestampPath string
	Resource      string
	ResultPath    *string
	Parameters    struct {
		FunctionName string
		Payload      map[string]any
	}
	Retry []struct {
		ErrorEquals []string
		MaxAttempts int
		BackoffRate float64
	}
	Catch []struct {
		ErrorEquals []string
		Next        string
	}
}

// aslMachine is the top level of an ASL definition.
type aslMachine struct {
	StartAt string
	States  map[string]aslState
}

func parseDefinition(t *testing.T) aslMachine {
	t.Helper()
	var m aslMachine
	if err := json.Unmarshal([]byte(Definition()), &m); err != nil {
		t.Fatalf("Definition() is not valid JSON: %v", err)
	}
	return m
}

func TestDefinitionFlow(t *testing.T) {
	m := parseDefinition(t)
	if got, want := m.StartAt, StateWaitForWarning; got != want {
		t.Errorf("StartAt: got %q, want %q", got, want)
	}
	// Walk the machine from StartAt along Next and record the path.
	var got []string
	for name := m.StartAt; name != ""; {
		if len(got) > len(m.States) {
			t.Fatalf("cycle in states: %v", got)
		}
		got = append(got, name)
		name = m.States[name].Next
	}
	want := []string{StateWaitForWarning, StateWarn, StateWaitForLimit, StateExpire, StateDone}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("state path: got %v, want %v", got, want)
	}
	if got, want := len(m.States), len(want); got != want {
		t.Errorf("number of states: got %d, want %d", got, want)
	}
}

func TestDefinitionStates(t *testing.T) {
	m := parseDefinition(t)
	tests := []struct {
		name      string
		state     string
		wantType  string
		wantPath  string // TimestampPath for waits
		wantAct   string // payload action for tasks
		wantCatch bool
	}{
		{name: "wait for warning", state: StateWaitForWarning, wantType: "Wait", wantPath: "$.warning_at"},
		{name: "warn", state: StateWarn, wantType: "Task", wantAct: ActionWarn, wantCatch: true},
		{name: "wait for limit", state: StateWaitForLimit, wantType: "Wait", wantPath: "$.limit_at"},
		{name: "expire", state: StateExpire, wantType: "Task", wantAct: ActionExpire},
		{name: "done", state: StateDone, wantType: "Succeed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := m.States[tc.state]
			if !ok {
				t.Fatalf("state %q missing", tc.state)
			}
			if s.Type != tc.wantType {
				t.Errorf("Type: got %q, want %q", s.Type, tc.wantType)
			}
			if s.TimestampPath != tc.wantPath {
				t.Errorf("TimestampPath: got %q, want %q", s.TimestampPath, tc.wantPath)
			}
			if tc.wantType != "Task" {
				return
			}
			if got, want := s.Resource, "arn:aws:states:::lambda:invoke"; got != want {
				t.Errorf("Resource: got %q, want %q", got, want)
			}
			if got, want := s.Parameters.FunctionName, "${"+TimeLimitFunctionArnKey+"}"; got != want {
				t.Errorf("FunctionName: got %q, want %q", got, want)
			}
			wantPayload := map[string]any{
				"action":       tc.wantAct,
				"session_id.$": "$.session_id",
				"warning_at.$": "$.warning_at",
				"limit_at.$":   "$.limit_at",
			}
			if !reflect.DeepEqual(s.Parameters.Payload, wantPayload) {
				t.Errorf("Payload: got %v, want %v", s.Parameters.Payload, wantPayload)
			}
			if s.ResultPath != nil {
				t.Errorf("ResultPath: got %q, want null", *s.ResultPath)
			}
			if len(s.Retry) == 0 {
				t.Fatalf("Retry: got none, want a retry on Lambda service errors")
			}
			r := s.Retry[0]
			for _, e := range []string{"Lambda.ServiceException", "Lambda.TooManyRequestsException",
				"Lambda.ClientExecutionTimeoutException", "Lambda.Unknown", "Lambda.AWSLambdaException", "Lambda.SdkClientException"} {
				if !contains(r.ErrorEquals, e) {
					t.Errorf("Retry.ErrorEquals: got %v, want it to contain %q", r.ErrorEquals, e)
				}
			}
			if r.MaxAttempts < 2 || r.BackoffRate <= 1 {
				t.Errorf("Retry: got MaxAttempts %d BackoffRate %v, want ≥ 2 attempts with backoff > 1", r.MaxAttempts, r.BackoffRate)
			}
			notDue := false
			for _, r := range s.Retry[1:] {
				notDue = notDue || contains(r.ErrorEquals, NotDueErrorName)
			}
			if !notDue {
				t.Errorf("Retry: got %+v, want a retrier for %q (the task fired early) after the Lambda one", s.Retry, NotDueErrorName)
			}
			if got := len(s.Catch) > 0; got != tc.wantCatch {
				t.Errorf("has Catch: got %v, want %v", got, tc.wantCatch)
			}
			if tc.wantCatch && s.Catch[0].Next != StateWaitForLimit {
				t.Errorf("Catch.Next: got %q, want %q (a failed warning must not stop the countdown)", s.Catch[0].Next, StateWaitForLimit)
			}
		})
	}
}

// TestTaskPayloadMatchesDefinition checks that the Go payload type decodes every field the
// definition sends.
func TestTaskPayloadMatchesDefinition(t *testing.T) {
	m := parseDefinition(t)
	payloadType := reflect.TypeOf(TaskPayload{})
	tags := map[string]bool{}
	for i := range payloadType.NumField() {
		tags[payloadType.Field(i).Tag.Get("json")] = true
	}
	for key := range m.States[StateExpire].Parameters.Payload {
		name := strings.TrimSuffix(key, ".$")
		if !tags[name] {
			t.Errorf("payload field %q: got no TaskPayload field, want one tagged %q", key, name)
		}
	}
}

// TestDefinitionASLValidator runs the npm asl-validator on the definition.
func TestDefinitionASLValidator(t *testing.T) {
	root := moduleRoot(t)
	bin := filepath.Join(root, ".local", "node", "node_modules", ".bin", "asl-validator")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("asl-validator not installed at %s (%v): run `make node-tools` "+
			"(npm install --prefix .local/node asl-validator)", bin, err)
	}
	path := filepath.Join(t.TempDir(), "countdown.asl.json")
	if err := os.WriteFile(path, []byte(Definition()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--json-path", path).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("asl-validator rejected the definition (exit %d):\n%s", exit.ExitCode(), out)
	}
	if err != nil {
		t.Fatalf("run asl-validator: %v\n%s", err, out)
	}
}

// moduleRoot is the nearest directory above the test's working directory holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's working directory")
		}
		dir = parent
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
