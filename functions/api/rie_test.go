package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lambdarie"
)

// The built bootstrap, run as Lambda runs it, answers API Gateway HTTP API events from the
// events/ fixtures on DynamoDB Local: the health check, the All Users group it ensures at
// start-up, authenticated writes and reads with the fixtures' admin key, and the refusals.
func TestAPIUnderEmulator(t *testing.T) {
	tb := ddbtest.NewTable(t)
	fn := lambdarie.StartFunction(t, "api", lambdarie.Options{Env: map[string]string{
		"TABLE_NAME":        tb.Name,
		"DYNAMODB_ENDPOINT": tb.Endpoint,
		"ADMIN_API_KEY":     fixtureAdminKey,
	}})
	// In order: the health check is the cold start; the groups are listed after they are made.
	tests := []struct {
		fixture    string
		wantStatus int
		wantBody   []string // substrings of the body
	}{
		{fixture: "apigw-health.json", wantStatus: http.StatusOK, wantBody: []string{`{"status":"ok"}`}},
		{fixture: "apigw-get-all-users-settings.json", wantStatus: http.StatusOK, wantBody: []string{`"max_kasms_per_user":5`, `"version":1`}},
		{fixture: "apigw-create-group.json", wantStatus: http.StatusCreated, wantBody: []string{`"name":"Engineering"`, `"priority":10`, `"version":1`}},
		{fixture: "apigw-create-group-base64.json", wantStatus: http.StatusCreated, wantBody: []string{`"name":"Contractors"`, `"priority":20`}},
		{fixture: "apigw-create-group-duplicate-name.json", wantStatus: http.StatusConflict, wantBody: []string{`"code":"group_name_taken"`}},
		{fixture: "apigw-list-groups.json", wantStatus: http.StatusOK, wantBody: []string{`"group_id":"all-users"`, `"name":"Engineering"`, `"name":"Contractors"`}},
		{fixture: "apigw-me.json", wantStatus: http.StatusOK, wantBody: []string{`"role":"admin"`, `"key_id":"bootstrap"`}},
		{fixture: "apigw-no-key.json", wantStatus: http.StatusUnauthorized, wantBody: []string{`"code":"missing_key"`}},
		{fixture: "apigw-invalid-key.json", wantStatus: http.StatusUnauthorized, wantBody: []string{`"code":"invalid_key"`}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.fixture, ".json"), func(t *testing.T) {
			resp := fn.InvokeFixture(t, tc.fixture)
			if resp.Status != http.StatusOK || resp.FunctionError() != "" {
				t.Fatalf("invoke: status %d, function error %q, body %s\n%s", resp.Status, resp.FunctionError(), resp.Body, fn.Output())
			}
			var got events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(resp.Body, &got); err != nil {
				t.Fatalf("answer %s: %v", resp.Body, err)
			}
			if got.StatusCode != tc.wantStatus {
				t.Fatalf("status: got %d %s, want %d", got.StatusCode, got.Body, tc.wantStatus)
			}
			if got.IsBase64Encoded {
				t.Fatalf("isBase64Encoded: got true, want a JSON body as text")
			}
			for _, want := range tc.wantBody {
				if !strings.Contains(got.Body, want) {
					t.Errorf("body: got %s, want it to contain %s", got.Body, want)
				}
			}
			if ct := got.Headers["Content-Type"]; ct != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
		})
	}
	if out := fn.Output(); strings.Contains(out, "Bearer "+fixtureAdminKey) {
		t.Errorf("the admin key is in the function's output:\n%s", out)
	}
	t.Logf("api under aws-lambda-rie: first answer %v after process start", fn.FirstAnswer())
}
