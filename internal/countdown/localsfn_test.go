package countdown_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"wspolicy/internal/countdown"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// localSFNInstall installs the pinned aws-local-stepfunctions (make node-tools does too).
const localSFNInstall = "npm install --prefix .local/node aws-local-stepfunctions@3.0.0"

// taskFunctionARN stands for the deployed task function in the definition.
const taskFunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:WsPolicy-TimeLimit"

// localSFNRun is what run-countdown.mjs prints.
type localSFNRun struct {
	Result  json.RawMessage `json:"result"`
	Error   *struct{ Name, Message string }
	Entered []string `json:"entered"`
	Retried []string `json:"retried"`
	Caught  []string `json:"caught"`
}

// moduleDir is the module root (the folder holding go.mod) above the test's directory.
func moduleDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
}

// runLocalSFN runs the countdown definition with aws-local-stepfunctions on node: the
// execution input comes from GET <baseURL>/input, asked once the machine is built, and its Task
// states post to <baseURL>/task. It fails the test (never skips) when node or the library is
// missing.
func runLocalSFN(t *testing.T, baseURL string, waits, retries map[string]int) localSFNRun {
	t.Helper()
	root := moduleDir(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found on PATH (%v): install Node.js 20 or later, then `make node-tools` (%s)", err, localSFNInstall)
	}
	lib := filepath.Join(root, ".local", "node", "node_modules", "aws-local-stepfunctions", "build", "main.node.esm.js")
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("aws-local-stepfunctions not installed (%v): run `make node-tools` (%s)", err, localSFNInstall)
	}
	def := strings.ReplaceAll(countdown.Definition(), "${"+countdown.TimeLimitFunctionArnKey+"}", taskFunctionARN)
	cfg, err := json.Marshal(map[string]any{
		"library": lib, "definition": def, "inputURL": baseURL + "/input", "taskURL": baseURL + "/task",
		"waitOverrides": waits, "retryOverrides": retries,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "run.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--import", "file://"+filepath.Join(testdata, "polyfill.mjs"),
		filepath.Join(testdata, "run-countdown.mjs"), cfgPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node run-countdown.mjs: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var run localSFNRun
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &run); err != nil {
		t.Fatalf("decode the run's report: %v\n%s\nstderr: %s", err, out, stderr.String())
	}
	return run
}

// taskEndpoint serves the execution input at /input and the Go task function at /task the
// way Lambda runs it: the payload goes through aws-lambda-go's handler (the reflection the
// deployed function uses) and an error comes back as Lambda's error document, named after its
// type. before, when set, runs first (it may answer instead by returning an error document).
type taskEndpoint struct {
	input   func() countdown.ExecutionInput
	handler lambda.Handler
	before  func(p countdown.TaskPayload) error
	mu      sync.Mutex
	calls   []string
}

func (e *taskEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/input" {
		_ = json.NewEncoder(w).Encode(e.input())
		return
	}
	var in struct {
		FunctionName string          `json:"function_name"`
		Payload      json.RawMessage `json:"payload"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var p countdown.TaskPayload
	_ = json.Unmarshal(in.Payload, &p)
	e.mu.Lock()
	e.calls = append(e.calls, in.FunctionName+" "+p.Action)
	e.mu.Unlock()
	var err error
	if e.before != nil {
		err = e.before(p)
	}
	var out []byte
	if err == nil {
		out, err = e.handler.Invoke(r.Context(), in.Payload)
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		_ = json.NewEncoder(w).Encode(map[string]string{"errorType": errorType(err), "errorMessage": err.Error()})
		return
	}
	_, _ = w.Write(out)
}

// errorType names an error as aws-lambda-go does: its type's name.
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// FunctionFailure is an error a test makes the task function answer.
type FunctionFailure struct{ msg string }

func (f *FunctionFailure) Error() string { return f.msg }

// TestLocalStepFunctions runs the real state machine definition with aws-local-stepfunctions,
// its Task states calling the Go task handler on DynamoDB Local.
func TestLocalStepFunctions(t *testing.T) {
	allStates := []string{countdown.StateWaitForWarning, countdown.StateWarn, countdown.StateWaitForLimit, countdown.StateExpire, countdown.StateDone}
	noWait := map[string]int{countdown.StateWaitForWarning: 0, countdown.StateWaitForLimit: 0}
	tests := []struct {
		name  string
		limit time.Duration
		// realTime: the session starts on the system clock when the execution asks for its
		// input, and the waits are real; otherwise it starts at t0 on a fixed clock and setup
		// moves that clock.
		realTime    bool
		waits       map[string]int
		retries     map[string]int
		before      func(clock *policy.FixedClock, s lifecycle.Session) func(p countdown.TaskPayload) error
		wantRetried []string
		wantCaught  []string
		wantEvents  string
		wantCalls   string
	}{
		{
			name: "real waits: a 3 s limit, warned at 1.5 s", limit: 3 * time.Second, realTime: true,
			wantEvents: "created time_limit_warning time_limit_reached deleted",
			wantCalls:  "warn expire",
		},
		{
			name: "waits shortened: a 1 h limit, the clock moved to each due time", limit: time.Hour, waits: noWait,
			before: func(clock *policy.FixedClock, s lifecycle.Session) func(p countdown.TaskPayload) error {
				return func(p countdown.TaskPayload) error {
					// The wait that just ended would have lasted until the payload's time.
					at := p.WarningAt
					if p.Action == countdown.ActionExpire {
						at = p.LimitAt
					}
					ts, err := time.Parse(time.RFC3339, at)
					if err != nil {
						return err
					}
					clock.Set(ts)
					return nil
				}
			},
			wantEvents: "created time_limit_warning time_limit_reached deleted",
			wantCalls:  "warn expire",
		},
		{
			name: "a failing warning does not stop the countdown", limit: time.Hour, waits: noWait,
			before: func(clock *policy.FixedClock, s lifecycle.Session) func(p countdown.TaskPayload) error {
				clock.Set(s.TimeLimitAt)
				return func(p countdown.TaskPayload) error {
					if p.Action == countdown.ActionWarn {
						return &FunctionFailure{msg: "warning broke"}
					}
					return nil
				}
			},
			wantCaught: []string{countdown.StateWarn},
			wantEvents: "created time_limit_reached deleted",
			wantCalls:  "warn expire",
		},
		{
			name: "fired early: NotDueError retried until due", limit: time.Hour, waits: noWait,
			retries: map[string]int{countdown.StateWarn: 0, countdown.StateExpire: 0},
			before: func(clock *policy.FixedClock, s lifecycle.Session) func(p countdown.TaskPayload) error {
				// Each call comes a second later: warn at -2.5 s (past the warning), expire
				// at -1.5 s (too early) and -0.5 s (within the tolerance).
				clock.Set(s.TimeLimitAt.Add(-3500 * time.Millisecond))
				return func(countdown.TaskPayload) error { clock.Advance(time.Second); return nil }
			},
			wantRetried: []string{countdown.StateExpire},
			wantEvents:  "created time_limit_warning time_limit_reached deleted",
			wantCalls:   "warn expire expire",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "u1")
			var clock policy.Clock = e.clock
			ep := &taskEndpoint{}
			var began time.Time
			if tc.realTime {
				clock = policy.SystemClock{}
				ep.input = func() countdown.ExecutionInput {
					began = time.Now()
					s := e.start(t, "s1", "u1", tc.limit, began)
					return countdown.NewExecutionInput(s.ID, s.TimeLimitWarnAt, s.TimeLimitAt)
				}
			} else {
				s := e.start(t, "s1", "u1", tc.limit, t0)
				ep.input = func() countdown.ExecutionInput {
					return countdown.NewExecutionInput(s.ID, s.TimeLimitWarnAt, s.TimeLimitAt)
				}
				if tc.before != nil {
					ep.before = tc.before(e.clock, s)
				}
			}
			ep.handler = lambda.NewHandler(countdown.NewTask(e.store, clock, nil).Handle)
			srv := httptest.NewServer(ep)
			defer srv.Close()

			run := runLocalSFN(t, srv.URL, tc.waits, tc.retries)
			elapsed := time.Since(began)
			if run.Error != nil {
				t.Fatalf("execution failed: %s: %s", run.Error.Name, run.Error.Message)
			}
			if !reflect.DeepEqual(run.Entered, allStates) {
				t.Errorf("states entered: got %v, want %v", run.Entered, allStates)
			}
			if fmt.Sprint(run.Retried) != fmt.Sprint(tc.wantRetried) || fmt.Sprint(run.Caught) != fmt.Sprint(tc.wantCaught) {
				t.Errorf("retried %v caught %v, want retried %v caught %v", run.Retried, run.Caught, tc.wantRetried, tc.wantCaught)
			}
			var calls []string
			for _, c := range ep.calls {
				fn, action, _ := strings.Cut(c, " ")
				if fn != taskFunctionARN {
					t.Errorf("function name: got %q, want %q", fn, taskFunctionARN)
				}
				calls = append(calls, action)
			}
			if got := strings.Join(calls, " "); got != tc.wantCalls {
				t.Errorf("task calls: got %q, want %q", got, tc.wantCalls)
			}
			if got := e.events(t, "s1"); got != tc.wantEvents {
				t.Errorf("events: got %q, want %q", got, tc.wantEvents)
			}
			if got := e.get(t, "s1"); got.Status != lifecycle.StatusDeleted || got.ExpirationReason != lifecycle.ReasonTimeLimitReached {
				t.Errorf("session: got %s %q, want deleted %s", got.Status, got.ExpirationReason, lifecycle.ReasonTimeLimitReached)
			}
			if tc.realTime && elapsed < tc.limit {
				t.Errorf("execution took %v, want at least the %v limit (real waits)", elapsed, tc.limit)
			}
		})
	}
}

// TestLocalStepFunctionsRejectsMalformedTimes: a countdown input whose times are not RFC 3339
// fails the execution at the first wait, before calling the task.
func TestLocalStepFunctionsRejectsMalformedTimes(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/input" {
			_ = json.NewEncoder(w).Encode(countdown.ExecutionInput{SessionID: "s1", WarningAt: "soon", LimitAt: "later"})
			return
		}
		calls++
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	run := runLocalSFN(t, srv.URL, nil, nil)
	if run.Error == nil || !strings.Contains(run.Error.Message, "RFC3339") {
		t.Errorf("execution error: got %+v, want an RFC3339 timestamp error", run.Error)
	}
	if calls != 0 {
		t.Errorf("task calls: got %d, want 0", calls)
	}
}
