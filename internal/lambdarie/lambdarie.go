// Package lambdarie runs a function's bootstrap the way Lambda runs it, under the Lambda runtime
// interface emulator (aws-lambda-rie), for tests: Build compiles ./functions/<name> for the host
// with the flags the Makefile uses for Lambda, Start runs it under the emulator on free ports
// with only the environment given, and Invoke posts an event to it. It never skips: a missing
// emulator fails the test with the command that installs it.
package lambdarie

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wspolicy/internal/syncbuf"
)

// Version is the pinned emulator version (make rie installs it).
const Version = "v0.0.0-20261030222936-bef5c4ba774d"

// InstallCommand installs the pinned emulator into $(go env GOPATH)/bin (or $GOBIN).
const InstallCommand = "go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@" + Version

// InvocationPath is where the emulator takes invocations.
const InvocationPath = "/2015-03-31/functions/function/invocations"

// Options configure Start.
type Options struct {
	// Env is the function's environment, added to (and overriding) the defaults: AWS_REGION
	// us-east-1, dummy credentials, no instance metadata, PATH and HOME. Nothing else of the
	// test's environment reaches the function. Point SDK clients at local fakes with the
	// service-specific variables, e.g. AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_EVENTBRIDGE.
	Env map[string]string
	// Timeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT; default 30s).
	Timeout time.Duration
	// ReadyTimeout bounds the wait for the emulator to listen (default 10s).
	ReadyTimeout time.Duration
	// Name is the function name (AWS_LAMBDA_FUNCTION_NAME; StartFunction sets it).
	Name string
}

// Emulator is a function running under aws-lambda-rie. It is stopped, with the function, when
// the test ends.
type Emulator struct {
	// URL is the invocation endpoint.
	URL string

	started time.Time
	out     *syncbuf.Buffer
	exited  chan struct{}
	timeout time.Duration

	mu          sync.Mutex
	firstAnswer time.Duration
}

// Response is the emulator's answer to one invocation.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Elapsed is the time from sending the request to reading the whole answer.
	Elapsed time.Duration
}

// FunctionError returns "<errorType>: <errorMessage>" when the body is Lambda's error
// document (the handler returned an error or panicked), "" otherwise.
func (r Response) FunctionError() string {
	var doc struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal(r.Body, &doc) != nil || (doc.Type == "" && doc.Message == "") {
		return ""
	}
	return doc.Type + ": " + doc.Message
}

// StartFunction builds ./functions/<name> and starts it under the emulator.
func StartFunction(t testing.TB, name string, opts Options) *Emulator {
	t.Helper()
	if opts.Name == "" {
		opts.Name = name
	}
	return Start(t, Build(t, name), opts)
}

// Build compiles ./functions/<name> of this module for the host (linux/GOARCH, no cgo, tag
// lambda.norpc, trimmed and stripped, as make lambdas builds it for arm64) into a temporary
// folder and returns the path of the bootstrap executable.
func Build(t testing.TB, name string) string {
	t.Helper()
	return BuildPackage(t, "./functions/"+name)
}

// BuildPackage is Build for any main package of the module, given relative to its root.
func BuildPackage(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command(goTool(), "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lambdarie: build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Path returns the emulator executable: aws-lambda-rie on $GOBIN or $(go env GOPATH)/bin. A
// missing emulator fails the test with InstallCommand.
func Path(t testing.TB) string {
	t.Helper()
	var dirs []string
	if b, err := exec.Command(goTool(), "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(string(b), "\n") // GOBIN's line is empty when it is unset
		if gobin := strings.TrimSpace(lines[0]); gobin != "" {
			dirs = append(dirs, gobin)
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "aws-lambda-rie")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	t.Fatalf("lambdarie: aws-lambda-rie not found in %v: run `make rie` (%s)", dirs, InstallCommand)
	return ""
}

// Start runs bootstrap under the emulator on free loopback ports and waits until the emulator
// listens. The function process itself starts with the first invocation, as in Lambda.
func Start(t testing.TB, bootstrap string, opts Options) *Emulator {
	t.Helper()
	rie := Path(t)
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	if opts.Name == "" {
		opts.Name = "function"
	}
	addrs := freeAddrs(t, 2)
	addr, apiAddr := addrs[0], addrs[1]
	env := map[string]string{
		"PATH":                        os.Getenv("PATH"),
		"HOME":                        os.TempDir(),
		"AWS_REGION":                  "us-east-1",
		"AWS_DEFAULT_REGION":          "us-east-1",
		"AWS_ACCESS_KEY_ID":           "local",
		"AWS_SECRET_ACCESS_KEY":       "local",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_LAMBDA_FUNCTION_NAME":    opts.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(int(opts.Timeout.Round(time.Second) / time.Second)),
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	e := &Emulator{
		URL: "http://" + addr + InvocationPath,
		out: &syncbuf.Buffer{}, exited: make(chan struct{}), timeout: opts.Timeout,
	}
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = e.out, e.out
	// Own process group, so that stopping it stops the function too; SIGKILL if this test
	// binary dies first (Pdeathsig follows the starting thread, kept locked until the emulator
	// exits).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		e.started = time.Now()
		if err := cmd.Start(); err != nil {
			startErr <- err
			close(e.exited)
			return
		}
		startErr <- nil
		_ = cmd.Wait()
		close(e.exited)
	}()
	if err := <-startErr; err != nil {
		t.Fatalf("lambdarie: start %s: %v", rie, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-e.exited
	})
	deadline := time.Now().Add(opts.ReadyTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return e
		}
		select {
		case <-e.exited:
			t.Fatalf("lambdarie: the emulator exited before listening on %s:\n%s", addr, e.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("lambdarie: the emulator did not listen on %s within %v:\n%s", addr, opts.ReadyTimeout, e.Output())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Invoke posts payload as the event and returns the answer. A transport error fails the test
// with the emulator's output.
func (e *Emulator) Invoke(t testing.TB, payload []byte) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("lambdarie: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	sent := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("lambdarie: invoke: %v\nemulator output:\n%s", err, e.Output())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("lambdarie: read answer: %v\nemulator output:\n%s", err, e.Output())
	}
	done := time.Now()
	e.mu.Lock()
	if e.firstAnswer == 0 {
		e.firstAnswer = done.Sub(e.started)
	}
	e.mu.Unlock()
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body, Elapsed: done.Sub(sent)}
}

// InvokeFixture invokes the function with the module's events/<name> file.
func (e *Emulator) InvokeFixture(t testing.TB, name string) Response {
	t.Helper()
	return e.Invoke(t, Fixture(t, name))
}

// FirstAnswer is the time from the emulator's process start to the end of its first answered
// invocation (a cold start, including starting the function); 0 before any answer.
func (e *Emulator) FirstAnswer() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.firstAnswer
}

// Output is everything the emulator and the function have written so far.
func (e *Emulator) Output() string { return e.out.String() }

// Fixture reads the module's events/<name> file.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ModuleRoot(t), "events", name))
	if err != nil {
		t.Fatalf("lambdarie: fixture: %v", err)
	}
	return b
}

// ModuleRoot is the folder of the go.mod above the working directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("lambdarie: %v", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("lambdarie: no go.mod above %s", wd)
		}
	}
}

// goTool is the go command on PATH (go test runs with the toolchain's folder on it).
func goTool() string { return "go" }

// freeAddrs returns n distinct loopback addresses whose ports were free a moment ago.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("lambdarie: find a free port: %v", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}
