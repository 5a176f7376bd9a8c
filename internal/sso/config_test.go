package sso

import (
	"slices"
	"testing"
)

func TestConnectOrigins(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{name: "off", env: map[string]string{}, want: nil},
		{name: "issuer only", env: map[string]string{"OIDC_ISSUER": "http://127.0.0.1:8081/oidc", "OIDC_CLIENT_ID": "c"},
			want: []string{"http://127.0.0.1:8081"}},
		{name: "cognito hosted UI beside the issuer", env: map[string]string{
			"OIDC_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", "OIDC_CLIENT_ID": "c",
			"OIDC_PROVIDER_ORIGINS": "https://wsp.auth.eu-west-1.amazoncognito.com/, https://cognito-idp.eu-west-1.amazonaws.com"},
			want: []string{"https://cognito-idp.eu-west-1.amazonaws.com", "https://wsp.auth.eu-west-1.amazoncognito.com"}},
		{name: "not origins are left out", env: map[string]string{"OIDC_ISSUER": "https://idp.example.com", "OIDC_CLIENT_ID": "c",
			"OIDC_PROVIDER_ORIGINS": "javascript:alert(1) 'unsafe-inline' ftp://x https://u:p@h.example.com https://ok.example.com:8443/x"},
			want: []string{"https://idp.example.com", "https://ok.example.com:8443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ConfigFromEnv(func(k string) string { return tt.env[k] }).ConnectOrigins()
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := ConfigFromEnv(func(k string) string {
		return map[string]string{"OIDC_ISSUER": "https://i", "OIDC_CLIENT_ID": "console", "OIDC_GROUPS_CLAIM": "cognito:groups"}[k]
	})
	if !c.Enabled() || c.Audience != "console" || c.UsernameClaim != "preferred_username" || c.GroupsClaim != "cognito:groups" ||
		c.Scopes != "openid profile email groups" {
		t.Fatalf("config = %+v", c)
	}
}
