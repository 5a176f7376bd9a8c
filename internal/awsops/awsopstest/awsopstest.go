// Package awsopstest runs a function's tests with AWS operation recording (see awsops) and
// fakes the AWS services other than DynamoDB, so that the functions' own SDK clients can be
// exercised (and recorded) in tests.
package awsopstest

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"wspolicy/internal/awsops"
)

// Main runs the package's tests with recording on, then, when every test ran (no -run or
// -skip filter) and passed, checks the recorded operations against the function's granted
// list in internal/awsops/granted: exactly equal, or the test binary fails with the
// difference. Call it from TestMain: os.Exit(awsopstest.Main(m, "api")).
func Main(m *testing.M, function string) int {
	rec := awsops.Record()
	code := m.Run()
	if code != 0 || filtered() {
		return code
	}
	file := filepath.Join("..", "..", "internal", "awsops", awsops.GrantedFile(function))
	diff, err := awsops.Check(file, rec.Ops())
	if err != nil {
		fmt.Fprintln(os.Stderr, "awsops:", err)
		return 1
	}
	if diff != "" {
		fmt.Fprintln(os.Stderr, "FAIL: the AWS operations of function "+function+": "+diff)
		return 1
	}
	return 0
}

func filtered() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	return false
}

// FakeAWS is an HTTP server answering the JSON-protocol calls of Step Functions, EventBridge
// and Secrets Manager the functions make, with success.
type FakeAWS struct {
	URL string
	// Secret is what GetSecretValue answers.
	Secret string

	mu     sync.Mutex
	inputs map[string]string // execution name → input
}

// NewFakeAWS starts a fake and points the SDK at it for those services through t.Setenv
// (AWS_ENDPOINT_URL_<SERVICE>, a region and static credentials).
func NewFakeAWS(t *testing.T, secret string) *FakeAWS {
	t.Helper()
	f := &FakeAWS{Secret: secret, inputs: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SFN":             srv.URL,
		"AWS_ENDPOINT_URL_EVENTBRIDGE":     srv.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL,
		"AWS_REGION":                       "us-east-1",
		"AWS_ACCESS_KEY_ID":                "fake",
		"AWS_SECRET_ACCESS_KEY":            "fake",
		"AWS_SESSION_TOKEN":                "",
		"AWS_PROFILE":                      "",
		"AWS_CONFIG_FILE":                  filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE":      filepath.Join(t.TempDir(), "none"),
	} {
		t.Setenv(k, v)
	}
	return f
}

func (f *FakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	_, op, _ := strings.Cut(target, ".")
	var out any
	switch op {
	case "StartExecution":
		// Every start finds its execution there already (as after a retried start), so that
		// the caller's check of the existing execution's input runs too.
		var in struct{ Name, Input string }
		_ = json.Unmarshal(body, &in)
		f.mu.Lock()
		f.inputs[in.Name] = in.Input
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"ExecutionAlreadyExists","message":"started already"}`)
		return
	case "StopExecution":
		out = map[string]any{"stopDate": 0}
	case "DescribeExecution":
		var in struct{ ExecutionArn string }
		_ = json.Unmarshal(body, &in)
		f.mu.Lock()
		input := f.inputs[in.ExecutionArn[strings.LastIndex(in.ExecutionArn, ":")+1:]]
		f.mu.Unlock()
		out = map[string]any{"executionArn": in.ExecutionArn, "stateMachineArn": "x", "status": "RUNNING", "startDate": 0, "input": input}
	case "GetSecretValue":
		out = map[string]any{"ARN": "x", "Name": "x", "SecretString": f.Secret}
	case "PutEvents":
		var in struct{ Entries []json.RawMessage }
		_ = json.Unmarshal(body, &in)
		entries := make([]map[string]string, len(in.Entries))
		for i := range entries {
			entries[i] = map[string]string{"EventId": fmt.Sprintf("e%d", i)}
		}
		out = map[string]any{"FailedEntryCount": 0, "Entries": entries}
	default:
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":"fake AWS does not know %s"}`, target)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}
