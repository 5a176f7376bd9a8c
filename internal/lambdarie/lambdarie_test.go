package lambdarie

import (
	"encoding/json"
	"testing"
)

func TestEmulatorRunsAFunction(t *testing.T) {
	e := Start(t, BuildPackage(t, "./internal/lambdarie/testdata/echo"), Options{
		Env: map[string]string{"GREETING": "hello"}, Name: "echo",
	})
	tests := []struct {
		name      string
		payload   string
		wantValue string
		wantError string
	}{
		{name: "environment reaches the function", payload: `{"env":"GREETING"}`, wantValue: "hello"},
		{name: "region default", payload: `{"env":"AWS_REGION"}`, wantValue: "us-east-1"},
		{name: "function name", payload: `{"env":"AWS_LAMBDA_FUNCTION_NAME"}`, wantValue: "echo"},
		{name: "the test's own environment does not", payload: `{"env":"GOFLAGS"}`, wantValue: ""},
		{name: "a handler error is Lambda's error document", payload: `{"fail":true}`, wantError: "errorString: asked to fail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.Invoke(t, []byte(tc.payload))
			if got := resp.FunctionError(); got != tc.wantError {
				t.Fatalf("function error: got %q, want %q (status %d, body %s)", got, tc.wantError, resp.Status, resp.Body)
			}
			if tc.wantError != "" {
				return
			}
			if resp.Status != 200 {
				t.Fatalf("status: got %d, want 200; body %s", resp.Status, resp.Body)
			}
			var got struct {
				Value string `json:"value"`
			}
			if err := json.Unmarshal(resp.Body, &got); err != nil {
				t.Fatalf("answer %s: %v", resp.Body, err)
			}
			if got.Value != tc.wantValue {
				t.Errorf("value: got %q, want %q", got.Value, tc.wantValue)
			}
		})
	}
	if e.FirstAnswer() <= 0 {
		t.Errorf("FirstAnswer: got %v, want the cold start time", e.FirstAnswer())
	}
	t.Logf("echo under aws-lambda-rie: first answer %v after process start", e.FirstAnswer())
}

func TestFunctionError(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{name: "error document", body: `{"errorMessage":"boom","errorType":"errorString"}`, want: "errorString: boom"},
		{name: "ordinary answer", body: `{"batchItemFailures":[]}`, want: ""},
		{name: "not JSON", body: `Task timed out after 3.00 seconds`, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Response{Body: []byte(tc.body)}).FunctionError(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
