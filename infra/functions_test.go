package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"
)

func TestFunctions(t *testing.T) {
	noPanic(t, "four functions and no helper functions", func() {
		tmpl.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(len(functionNames)))
	})
	table := ref(logicalID(t, "AWS::DynamoDB::Table", "Table"))
	bus := ref(logicalID(t, "AWS::Events::EventBus", "SessionEvents"))
	sm := ref(logicalID(t, "AWS::StepFunctions::StateMachine", "Countdown"))
	secret := ref(logicalID(t, "AWS::SecretsManager::Secret", "AdminApiKey"))
	ns := "WsPolicy/Test"
	tests := []struct {
		name    string
		prefix  string
		wantEnv map[string]any
	}{
		{name: fnAPI, prefix: "ApiFunction", wantEnv: map[string]any{
			envTableName: table, envStateMachineArn: sm, envAdminKeySecretArn: secret, envMetricsNamespace: ns,
		}},
		{name: fnSweeper, prefix: "SweeperFunction", wantEnv: map[string]any{
			envTableName: table, envStateMachineArn: sm, envMetricsNamespace: ns,
		}},
		{name: fnPublisher, prefix: "PublisherFunction", wantEnv: map[string]any{
			envTableName: table, envEventBusName: bus, envStateMachineArn: sm, envMetricsNamespace: ns,
		}},
		{name: fnTimeLimit, prefix: "TimeLimitFunction", wantEnv: map[string]any{
			envTableName: table, envMetricsNamespace: ns,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			props := doc.Resources[logicalID(t, "AWS::Lambda::Function", tc.prefix)].Properties
			if tc.name == fnAPI {
				// The OIDC_* variables of sign-in are checked by TestSignInCognito.
				props = withoutOIDCEnv(props)
			}
			checks := []struct {
				field string
				want  any
			}{
				{field: "Runtime", want: "provided.al2023"},
				{field: "Architectures", want: []any{"arm64"}},
				{field: "Handler", want: "bootstrap"},
				{field: "MemorySize", want: float64(DefaultMemoryMB)},
				{field: "Environment", want: map[string]any{"Variables": tc.wantEnv}},
			}
			for _, c := range checks {
				if got := asJSON(props[c.field]); got != asJSON(c.want) {
					t.Errorf("%s: got %s, want %s", c.field, got, asJSON(c.want))
				}
			}
			logging, _ := props["LoggingConfig"].(map[string]any)
			if got := logging["LogFormat"]; got != "JSON" {
				t.Errorf("LoggingConfig.LogFormat: got %v, want JSON", got)
			}
			if _, ok := logging["LogGroup"]; !ok {
				t.Errorf("LoggingConfig.LogGroup: got none, want the function's own log group")
			}
		})
	}
}

func TestFunctionProps(t *testing.T) {
	noPanic(t, "variant functions are x86_64 with the memory the props give", func() {
		variantTmpl.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
			"Architectures": []any{"x86_64"},
			"MemorySize":    variantMemoryMB,
		})
	})
}

func TestCheckAssets(t *testing.T) {
	full := t.TempDir()
	if err := writeDummyAssets(full); err != nil {
		t.Fatal(err)
	}
	partial := t.TempDir()
	if err := writeDummyAssets(partial); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(partial, fnPublisher, "bootstrap")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		wantErr []string // substrings of the error; none means no error
	}{
		{name: "all present", dir: full},
		{name: "one missing", dir: partial, wantErr: []string{"make lambdas", "function publisher"}},
		{name: "no folder", dir: filepath.Join(full, "nope"), wantErr: []string{"function api", "function timelimit"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAssets(tc.dir)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Errorf("checkAssets: got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkAssets: got nil, want an error mentioning %q", tc.wantErr)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("checkAssets: got %q, want it to mention %q", err, s)
				}
			}
		})
	}
}

// policyStatement is an IAM policy statement as the template holds it.
type policyStatement struct {
	policy    string // logical id of the AWS::IAM::Policy
	actions   []string
	resources []any
}

// statements returns every statement of every IAM policy in the template.
func statements() []policyStatement {
	var out []policyStatement
	for _, id := range resourcesOfType("AWS::IAM::Policy") {
		docu, _ := doc.Resources[id].Properties["PolicyDocument"].(map[string]any)
		list, _ := docu["Statement"].([]any)
		for _, s := range list {
			m, _ := s.(map[string]any)
			out = append(out, policyStatement{policy: id, actions: strs(m["Action"]), resources: list1(m["Resource"])})
		}
	}
	return out
}

// strs reads a string or a list of strings.
func strs(v any) []string {
	var out []string
	for _, x := range list1(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// list1 reads a value or a list of values as a list.
func list1(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func TestIAMNoTableWildcards(t *testing.T) {
	for _, s := range statements() {
		for _, a := range s.actions {
			if a == "*" || a == "dynamodb:*" || (strings.HasPrefix(a, "dynamodb:") && strings.Contains(a, "*")) {
				t.Errorf("policy %s: got wildcard action %q, want explicit actions", s.policy, a)
			}
		}
		star := false
		for _, r := range s.resources {
			star = star || r == "*"
		}
		if !star {
			continue
		}
		for _, a := range s.actions {
			// ListStreams has no resource-level permissions: "*" is the only form IAM accepts,
			// and it reveals stream ARNs, not data.
			if strings.HasPrefix(a, "dynamodb:") && a != "dynamodb:ListStreams" {
				t.Errorf("policy %s: got %q on Resource \"*\", want it scoped to the table", s.policy, a)
			}
		}
	}
}

// policyOf returns the logical id of the default policy of the role of a construct whose id
// starts with prefix ("ApiFunction" → ApiFunctionServiceRoleDefaultPolicy…).
func policyOf(t *testing.T, prefix string) string {
	t.Helper()
	var found []string
	for _, id := range resourcesOfType("AWS::IAM::Policy") {
		if strings.HasPrefix(id, prefix) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("IAM policies with id prefix %q: got %v, want exactly one", prefix, found)
	}
	return found[0]
}

// withoutOIDCEnv is props with the OIDC_* environment variables left out.
func withoutOIDCEnv(props map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range props {
		out[k] = v
	}
	e, _ := props["Environment"].(map[string]any)
	vars, _ := e["Variables"].(map[string]any)
	kept := map[string]any{}
	for k, v := range vars {
		if !strings.HasPrefix(k, "OIDC_") {
			kept[k] = v
		}
	}
	out["Environment"] = map[string]any{"Variables": kept}
	return out
}
