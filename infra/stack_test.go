package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// The stacks are synthesized once (jsii makes each synthesis cost seconds) and shared by every
// test: the default stack, and a variant with every prop set away from its default.
var (
	tmpl        assertions.Template
	variantTmpl assertions.Template
	// doc is tmpl as plain JSON, for checks that walk the whole template.
	doc cfnTemplate
)

// The variant stack's memory size and edge limits.
const (
	variantMemoryMB      = 512
	variantThrottleRate  = 7
	variantThrottleBurst = 9
	variantIssuer        = "https://idp.example.com/realms/corp"
	variantClientID      = "wspolicy-console"
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer jsii.Close()
	dir, err := os.MkdirTemp("", "infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	assets := filepath.Join(dir, "lambda")
	if err := writeDummyAssets(assets); err != nil {
		fmt.Fprintln(os.Stderr, "dummy assets:", err)
		return 1
	}

	// The feature flags in cdk.json, so the tests see the template `cdk synth` writes.
	flags, err := cdkContext(filepath.Join("..", "cdk.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	app := awscdk.NewApp(&awscdk.AppProps{
		Outdir:  jsii.String(filepath.Join(dir, "cdk.out")),
		Context: &flags,
	})
	stack := NewControlPlaneStack(app, "Test", &ControlPlaneStackProps{AssetDir: assets})
	variant := NewControlPlaneStack(app, "TestVariant", &ControlPlaneStackProps{
		AssetDir:                assets,
		Architecture:            awslambda.Architecture_X86_64(),
		MemoryMB:                variantMemoryMB,
		TableRemovalPolicy:      awscdk.RemovalPolicy_DESTROY,
		TableDeletionProtection: jsii.Bool(false),
		ThrottleRate:            variantThrottleRate,
		ThrottleBurst:           variantThrottleBurst,
		APIConcurrency:          -1,
		SweeperConcurrency:      -1,
		TimeLimitConcurrency:    -1,
		OIDC: &OIDCProps{Issuer: variantIssuer, ClientID: variantClientID, GroupsClaim: "roles",
			AdminGroup: "platform-admins", ProviderOrigins: []string{"https://login.example.com"}},
	})
	applyNagPacks(app)
	if err := synthesize(func() {
		tmpl = assertions.Template_FromStack(stack, nil)
		variantTmpl = assertions.Template_FromStack(variant, nil)
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	nagFindings = collectNagFindings(stack)
	raw, err := json.Marshal(tmpl.ToJSON())
	if err == nil {
		err = json.Unmarshal(raw, &doc)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "template as JSON:", err)
		return 1
	}
	// make test lints this synthesis's template with cfn-lint rather than synthesizing again.
	if out := os.Getenv("WSPOLICY_TEMPLATE_OUT"); out != "" {
		err := os.MkdirAll(filepath.Dir(out), 0o755)
		if err == nil {
			err = os.WriteFile(out, raw, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "write the template:", err)
			return 1
		}
	}
	return m.Run()
}

// synthesize runs f, which synthesizes the stacks, and turns the panic a synthesis with errors
// ends in (cdk-nag findings are errors, listed above it on stderr) into an error.
func synthesize(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synthesis failed (unsuppressed cdk-nag errors are listed above: fix each, or suppress it next to its construct with the reason): %v", r)
		}
	}()
	f()
	return nil
}

// cdkContext reads the context (feature flags) from cdk.json.
func cdkContext(path string) (map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cdk.json: %w", err)
	}
	var cfg struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parse cdk.json: %w", err)
	}
	return cfg.Context, nil
}

// writeDummyAssets makes a folder per function holding a placeholder bootstrap file, so the
// tests do not depend on building the functions. Each differs, so each is its own asset.
func writeDummyAssets(dir string) error {
	for _, name := range functionNames {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return err
		}
		body := "#!/bin/sh\n# placeholder for " + name + "\n"
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte(body), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// cfnTemplate is the part of a CloudFormation template the tests walk.
type cfnTemplate struct {
	Resources  map[string]cfnResource
	Outputs    map[string]map[string]any
	Parameters map[string]any
}

// cfnResource is one template resource.
type cfnResource struct {
	Type           string
	Properties     map[string]any
	DeletionPolicy string
}

// resourcesOfType returns the logical ids of the template's resources of a type, sorted.
func resourcesOfType(typ string) []string {
	var ids []string
	for id, r := range doc.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// logicalID returns the one resource of the given type whose logical id starts with prefix
// (the construct id), failing the test otherwise.
func logicalID(t *testing.T, typ, prefix string) string {
	t.Helper()
	var found []string
	for _, id := range resourcesOfType(typ) {
		if strings.HasPrefix(id, prefix) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("resources of type %s with id prefix %q: got %v, want exactly one", typ, prefix, found)
	}
	return found[0]
}

// noPanic runs an assertions call, which reports a mismatch by panicking, as a test error.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// getAtt is the template form of an attribute of a resource.
func getAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}

// ref is the template form of a reference to a resource or parameter.
func ref(id string) map[string]any {
	return map[string]any{"Ref": id}
}

// asJSON renders a value for messages and for comparing template fragments.
func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

func TestOutputs(t *testing.T) {
	tests := []struct {
		name string
		want any
	}{
		{name: "ApiUrl", want: nil},
		{name: "TableName", want: ref(logicalID(t, "AWS::DynamoDB::Table", "Table"))},
		{name: "EventBusName", want: ref(logicalID(t, "AWS::Events::EventBus", "SessionEvents"))},
		{name: "StateMachineArn", want: ref(logicalID(t, "AWS::StepFunctions::StateMachine", "Countdown"))},
		{name: "AlarmTopicArn", want: ref(logicalID(t, "AWS::SNS::Topic", "AlarmTopic"))},
		{name: "AdminKeySecretArn", want: ref(logicalID(t, "AWS::SecretsManager::Secret", "AdminApiKey"))},
		{name: "DashboardName", want: "Test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noPanic(t, "HasOutput "+tc.name, func() {
				tmpl.HasOutput(jsii.String(tc.name), map[string]any{"Value": assertions.Match_AnyValue()})
			})
			out, ok := doc.Outputs[tc.name]
			if !ok {
				t.Fatalf("output %s: missing", tc.name)
			}
			if tc.want != nil && asJSON(out["Value"]) != asJSON(tc.want) {
				t.Errorf("output %s: got %s, want %s", tc.name, asJSON(out["Value"]), asJSON(tc.want))
			}
		})
	}
	// The API URL is built from the HTTP API's id.
	api := logicalID(t, "AWS::ApiGatewayV2::Api", "HttpApi")
	if got := asJSON(doc.Outputs["ApiUrl"]["Value"]); !strings.Contains(got, asJSON(ref(api))) {
		t.Errorf("ApiUrl: got %s, want it built from %s", got, asJSON(ref(api)))
	}
}

// TestAdminKeySecret checks the bootstrap admin key: a generated Secrets Manager secret whose
// ARN (not value) the api function gets, readable by the api function alone, and no parameter,
// output or environment variable that could hold a key.
func TestAdminKeySecret(t *testing.T) {
	secret := logicalID(t, "AWS::SecretsManager::Secret", "AdminApiKey")
	props := doc.Resources[secret].Properties
	gen, _ := props["GenerateSecretString"].(map[string]any)
	if gen["PasswordLength"] != 48.0 || gen["ExcludePunctuation"] != true {
		t.Errorf("GenerateSecretString: got %s, want 48 characters without punctuation", asJSON(gen))
	}
	if _, ok := props["SecretString"]; ok {
		t.Errorf("the secret has a SecretString in the template")
	}
	if len(doc.Parameters) != 0 {
		for name := range doc.Parameters {
			if !strings.HasPrefix(name, "BootstrapVersion") {
				t.Errorf("template parameter %s: want none (the key is generated at deploy)", name)
			}
		}
	}
	for _, id := range resourcesOfType("AWS::Lambda::Function") {
		env, _ := doc.Resources[id].Properties["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		for k, v := range vars {
			if strings.Contains(k, "KEY") && k != envAdminKeySecretArn {
				t.Errorf("function %s: environment variable %s = %s looks like a key", id, k, asJSON(v))
			}
			if k == envAdminKeySecretArn && asJSON(v) != asJSON(ref(secret)) {
				t.Errorf("function %s: %s = %s, want the secret's ARN", id, k, asJSON(v))
			}
		}
	}
	for name, out := range doc.Outputs {
		if js := asJSON(out["Value"]); strings.Contains(js, "SecretString") || strings.Contains(js, "resolve:secretsmanager") {
			t.Errorf("output %s exposes the secret's value: %s", name, js)
		}
	}
	// Who may read it: only the api function's role.
	var readers []string
	for _, s := range statements() {
		for _, r := range s.resources {
			if asJSON(r) == asJSON(ref(secret)) {
				readers = append(readers, s.policy+" "+strings.Join(s.actions, ","))
			}
		}
	}
	if want := policyOf(t, "ApiRole") + " secretsmanager:GetSecretValue"; len(readers) != 1 || readers[0] != want {
		t.Errorf("statements on the secret: got %v, want only %q", readers, want)
	}
}
