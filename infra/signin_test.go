package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"
)

// TestSignInCognito checks the default sign-in: a Cognito user pool (no self sign-up, MFA, a
// strong password policy), its administrators' group, the hosted sign-in domain, the
// console's public client (code grant, no secret, called back at the console), the api
// function's OIDC_* environment, and the JWT authorizer on /sso/v1 only.
func TestSignInCognito(t *testing.T) {
	pool := logicalID(t, "AWS::Cognito::UserPool", "UserPool")
	client := logicalID(t, "AWS::Cognito::UserPoolClient", "UserPoolConsoleClient")
	props := doc.Resources[pool].Properties
	if got := asJSON(props["AdminCreateUserConfig"]); !strings.Contains(got, `"AllowAdminCreateUserOnly":true`) {
		t.Errorf("AdminCreateUserConfig: got %s, want no self sign-up", got)
	}
	if props["MfaConfiguration"] != "ON" {
		t.Errorf("MfaConfiguration: got %v, want ON", props["MfaConfiguration"])
	}
	if got := asJSON(props["Policies"]); !strings.Contains(got, `"MinimumLength":12`) {
		t.Errorf("password policy: got %s, want at least 12 characters", got)
	}
	if doc.Resources[pool].DeletionPolicy != "Retain" {
		t.Errorf("user pool DeletionPolicy: got %q, want Retain (it holds the people)", doc.Resources[pool].DeletionPolicy)
	}
	noPanic(t, "the administrators' group", func() {
		tmpl.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolGroup"), map[string]any{
			"GroupName": CognitoAdminGroup, "UserPoolId": ref(pool)})
	})
	noPanic(t, "the hosted sign-in domain", func() {
		tmpl.ResourceCountIs(jsii.String("AWS::Cognito::UserPoolDomain"), jsii.Number(1))
	})
	cp := doc.Resources[client].Properties
	checks := map[string]string{
		"GenerateSecret":     `false`,
		"AllowedOAuthFlows":  `["code"]`,
		"AllowedOAuthScopes": `["openid","email","profile"]`,
	}
	for field, want := range checks {
		if got := asJSON(cp[field]); got != want {
			t.Errorf("client %s: got %s, want %s", field, got, want)
		}
	}
	api := logicalID(t, "AWS::ApiGatewayV2::Api", "HttpApi")
	for _, field := range []string{"CallbackURLs", "LogoutURLs"} {
		if got := asJSON(cp[field]); !strings.Contains(got, asJSON(ref(api))) || !strings.Contains(got, `console/"]`) {
			t.Errorf("client %s: got %s, want the console's URL on the API", field, got)
		}
	}

	env := apiEnv(t)
	issuer := asJSON(getAtt(pool, "ProviderURL"))
	wantEnv := map[string]string{
		envOIDCIssuer: issuer, envOIDCClientID: asJSON(ref(client)), envOIDCGroupsClaim: `"cognito:groups"`,
		envOIDCUsernameClaim: `"cognito:username"`, envOIDCAdminGroup: `"` + CognitoAdminGroup + `"`,
		envOIDCScopes: `"openid email profile"`,
	}
	for k, want := range wantEnv {
		if got := asJSON(env[k]); got != want {
			t.Errorf("api %s: got %s, want %s", k, got, want)
		}
	}
	if got := asJSON(env[envOIDCProviderOrigins]); !strings.Contains(got, "amazoncognito.com") {
		t.Errorf("api %s: got %s, want the hosted sign-in domain", envOIDCProviderOrigins, got)
	}
	checkAuthorizer(t, doc, issuer, asJSON([]any{ref(client)}))
}

// TestSignInExternalIssuer checks the variant stack: an external provider by props, no user
// pool, the authorizer and the api function configured for it.
func TestSignInExternalIssuer(t *testing.T) {
	noPanic(t, "no user pool", func() {
		variantTmpl.ResourceCountIs(jsii.String("AWS::Cognito::UserPool"), jsii.Number(0))
		variantTmpl.ResourceCountIs(jsii.String("AWS::Cognito::UserPoolClient"), jsii.Number(0))
	})
	var vdoc cfnTemplate
	raw, _ := json.Marshal(variantTmpl.ToJSON())
	if err := json.Unmarshal(raw, &vdoc); err != nil {
		t.Fatal(err)
	}
	checkAuthorizer(t, vdoc, asJSON(variantIssuer), asJSON([]string{variantClientID}))
	var env map[string]any
	for _, r := range vdoc.Resources {
		if r.Type == "AWS::Lambda::Function" && asJSON(r.Properties["Environment"]) != "" {
			e, _ := r.Properties["Environment"].(map[string]any)
			vars, _ := e["Variables"].(map[string]any)
			if _, ok := vars[envAdminKeySecretArn]; ok {
				env = vars
			}
		}
	}
	want := map[string]any{envOIDCIssuer: variantIssuer, envOIDCClientID: variantClientID, envOIDCGroupsClaim: "roles",
		envOIDCAdminGroup: "platform-admins", envOIDCProviderOrigins: "https://login.example.com"}
	for k, v := range want {
		if got := asJSON(env[k]); got != asJSON(v) {
			t.Errorf("api %s: got %s, want %s", k, got, asJSON(v))
		}
	}
	for _, k := range []string{envOIDCUsernameClaim, envOIDCScopes} {
		if v, ok := env[k]; ok {
			t.Errorf("api %s = %s, want unset (the api's default)", k, asJSON(v))
		}
	}
}

// apiEnv is the api function's environment in the default stack.
func apiEnv(t *testing.T) map[string]any {
	t.Helper()
	props := doc.Resources[logicalID(t, "AWS::Lambda::Function", "ApiFunction")].Properties
	e, _ := props["Environment"].(map[string]any)
	vars, _ := e["Variables"].(map[string]any)
	return vars
}

// checkAuthorizer: one JWT authorizer (issuer, audience, the Authorization header), on the
// /sso/v1 route and no other.
func checkAuthorizer(t *testing.T, d cfnTemplate, issuer, audience string) {
	t.Helper()
	var authorizers []string
	for id, r := range d.Resources {
		if r.Type == "AWS::ApiGatewayV2::Authorizer" {
			authorizers = append(authorizers, id)
		}
	}
	if len(authorizers) != 1 {
		t.Fatalf("authorizers: got %v, want one", authorizers)
	}
	a := d.Resources[authorizers[0]].Properties
	jwt, _ := a["JwtConfiguration"].(map[string]any)
	if a["AuthorizerType"] != "JWT" || asJSON(jwt["Issuer"]) != issuer || asJSON(jwt["Audience"]) != audience ||
		asJSON(a["IdentitySource"]) != `["$request.header.Authorization"]` {
		t.Errorf("authorizer: got %s, want JWT, issuer %s, audience %s, the Authorization header", asJSON(a), issuer, audience)
	}
	for _, r := range d.Resources {
		if r.Type != "AWS::ApiGatewayV2::Route" {
			continue
		}
		key, _ := r.Properties["RouteKey"].(string)
		guarded := r.Properties["AuthorizationType"] == "JWT" && asJSON(r.Properties["AuthorizerId"]) == asJSON(ref(authorizers[0]))
		if want := key == "ANY "+ssoRoutePath; guarded != want {
			t.Errorf("route %s: guarded by the JWT authorizer = %v, want %v", key, guarded, want)
		}
	}
}
