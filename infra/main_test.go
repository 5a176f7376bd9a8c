package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// TestAppConfigOIDC checks the sign-in context keys: Cognito by default, an external issuer
// with its client id.
func TestAppConfigOIDC(t *testing.T) {
	tests := []struct {
		name    string
		ctx     map[string]string
		want    *OIDCProps
		wantErr string
	}{
		{name: "default: Cognito", ctx: map[string]string{}},
		{name: "external issuer", ctx: map[string]string{"oidcIssuer": "https://idp.example.com", "oidcClientId": "console",
			"oidcGroupsClaim": "roles", "oidcAdminGroup": "ops", "oidcProviderOrigins": "https://a.example.com, https://b.example.com"},
			want: &OIDCProps{Issuer: "https://idp.example.com", ClientID: "console", GroupsClaim: "roles", AdminGroup: "ops",
				ProviderOrigins: []string{"https://a.example.com", "https://b.example.com"}}},
		{name: "issuer without client", ctx: map[string]string{"oidcIssuer": "https://idp.example.com"}, wantErr: "oidcClientId"},
		{name: "client without issuer", ctx: map[string]string{"oidcClientId": "c"}, wantErr: "oidcIssuer"},
		{name: "http issuer", ctx: map[string]string{"oidcIssuer": "http://idp.example.com", "oidcClientId": "c"}, wantErr: "https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, props, err := appConfig{get: func(k string) string { return tc.ctx[k] }}.stack(func(string) string { return "" })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error about %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprintf("%+v", props.OIDC), fmt.Sprintf("%+v", tc.want); got != want {
				t.Errorf("OIDC: got %s, want %s", got, want)
			}
		})
	}
}

// TestAppConfigEdge checks the edge limits' context keys.
func TestAppConfigEdge(t *testing.T) {
	ctx := map[string]string{"throttleRate": "10", "throttleBurst": "20", "apiConcurrency": "7"}
	_, props, err := appConfig{get: func(k string) string { return ctx[k] }}.stack(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if props.ThrottleRate != 10 || props.ThrottleBurst != 20 || props.APIConcurrency != 7 {
		t.Errorf("got rate %v burst %v api concurrency %v, want 10, 20, 7", props.ThrottleRate, props.ThrottleBurst, props.APIConcurrency)
	}
	ctx = map[string]string{"reservedConcurrency": "false"}
	_, props, err = appConfig{get: func(k string) string { return ctx[k] }}.stack(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if p := props.withDefaults(); p.reservedConcurrency(fnAPI) != 0 || p.reservedConcurrency(fnSweeper) != 0 || p.reservedConcurrency(fnTimeLimit) != 0 {
		t.Errorf("reservedConcurrency=false: got api %v sweeper %v timelimit %v, want none reserved",
			p.reservedConcurrency(fnAPI), p.reservedConcurrency(fnSweeper), p.reservedConcurrency(fnTimeLimit))
	}
}

func TestAppConfig(t *testing.T) {
	tests := []struct {
		name       string
		context    map[string]string
		env        map[string]string
		wantName   string
		wantAssets string
		wantArch   string
		wantMemory float64
		wantPolicy awscdk.RemovalPolicy
		wantProt   *bool // nil: left to the stack's default
		wantErr    string
	}{
		{name: "defaults", wantName: DefaultStackName, wantAssets: "build/lambda", wantArch: "arm64",
			wantPolicy: awscdk.RemovalPolicy_RETAIN},
		{name: "ASSET_DIR from the environment", env: map[string]string{"ASSET_DIR": "/tmp/a"},
			wantName: DefaultStackName, wantAssets: "/tmp/a", wantArch: "arm64", wantPolicy: awscdk.RemovalPolicy_RETAIN},
		{name: "context beats environment",
			context:  map[string]string{"assetDir": "ctx", "stackName": "Dev", "architecture": "x86_64", "memoryMB": "512", "tableRemovalPolicy": "destroy", "deletionProtection": "false"},
			env:      map[string]string{"ASSET_DIR": "/tmp/a"},
			wantName: "Dev", wantAssets: "ctx", wantArch: "x86_64", wantMemory: 512,
			wantPolicy: awscdk.RemovalPolicy_DESTROY, wantProt: new(bool)},
		{name: "bad architecture", context: map[string]string{"architecture": "mips"}, wantErr: "architecture"},
		{name: "bad memory", context: map[string]string{"memoryMB": "64"}, wantErr: "memoryMB"},
		{name: "bad removal policy", context: map[string]string{"tableRemovalPolicy": "snapshot"}, wantErr: "tableRemovalPolicy"},
		{name: "bad deletion protection", context: map[string]string{"deletionProtection": "maybe"}, wantErr: "deletionProtection"},
		{name: "bad throttle rate", context: map[string]string{"throttleRate": "0"}, wantErr: "throttleRate"},
		{name: "bad api concurrency", context: map[string]string{"apiConcurrency": "lots"}, wantErr: "apiConcurrency"},
		{name: "bad reserved concurrency", context: map[string]string{"reservedConcurrency": "some"}, wantErr: "reservedConcurrency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := appConfig{get: func(k string) string { return tc.context[k] }}
			name, props, err := cfg.stack(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error: got %v, want one about %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: got %v, want nil", err)
			}
			if name != tc.wantName {
				t.Errorf("stack name: got %q, want %q", name, tc.wantName)
			}
			if props.AssetDir != tc.wantAssets {
				t.Errorf("AssetDir: got %q, want %q", props.AssetDir, tc.wantAssets)
			}
			if got := *props.Architecture.Name(); got != tc.wantArch {
				t.Errorf("Architecture: got %q, want %q", got, tc.wantArch)
			}
			if props.MemoryMB != tc.wantMemory {
				t.Errorf("MemoryMB: got %v, want %v", props.MemoryMB, tc.wantMemory)
			}
			if props.TableRemovalPolicy != tc.wantPolicy {
				t.Errorf("TableRemovalPolicy: got %q, want %q", props.TableRemovalPolicy, tc.wantPolicy)
			}
			if (props.TableDeletionProtection == nil) != (tc.wantProt == nil) ||
				(tc.wantProt != nil && *props.TableDeletionProtection != *tc.wantProt) {
				t.Errorf("TableDeletionProtection: got %v, want %v", props.TableDeletionProtection, tc.wantProt)
			}
		})
	}
}
