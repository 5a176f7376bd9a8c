package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// ssoRoutePath is the HTTP API route of people signed in with an ID token: the JWT authorizer
// checks the token (signature, issuer, audience, expiry) at the edge before the api function
// runs, and the function serves /sso/v1/... as /v1/... (httpapi.SSOPathPrefix), verifying
// the token again and syncing the person's IdP groups. /v1/{proxy+} keeps the function's own
// key authentication for machines (API keys, developer keys, the bootstrap key).
const ssoRoutePath = "/sso/v1/{proxy+}"

// The sign-in defaults of the stack's Cognito user pool.
const (
	// CognitoAdminGroup is the Cognito group whose members are administrators.
	CognitoAdminGroup    = "wspolicy-admins"
	cognitoGroupsClaim   = "cognito:groups"
	cognitoUsernameClaim = "cognito:username"
	cognitoScopes        = "openid email profile"
)

// Environment variables of OIDC sign-in the api function reads (sso.ConfigFromEnv).
const (
	envOIDCIssuer          = "OIDC_ISSUER"
	envOIDCClientID        = "OIDC_CLIENT_ID"
	envOIDCGroupsClaim     = "OIDC_GROUPS_CLAIM"
	envOIDCUsernameClaim   = "OIDC_USERNAME_CLAIM"
	envOIDCAdminGroup      = "OIDC_ADMIN_GROUP"
	envOIDCScopes          = "OIDC_SCOPES"
	envOIDCProviderOrigins = "OIDC_PROVIDER_ORIGINS"
)

// OIDCProps name an external OpenID Connect provider the stack trusts instead of creating a
// Cognito user pool (docs/sign-in.md).
type OIDCProps struct {
	// Issuer is the provider's issuer URL (the iss of its tokens). Required.
	Issuer string
	// ClientID is the public client the console signs in with, the aud of the ID tokens.
	// Required.
	ClientID string
	// GroupsClaim, UsernameClaim, AdminGroup and Scopes: as OIDC_GROUPS_CLAIM,
	// OIDC_USERNAME_CLAIM, OIDC_ADMIN_GROUP and OIDC_SCOPES; empty takes the api's defaults
	// (groups, preferred_username, none, "openid profile email groups").
	GroupsClaim, UsernameClaim, AdminGroup, Scopes string
	// ProviderOrigins are origins beside the issuer's the console calls (OIDC_PROVIDER_ORIGINS).
	ProviderOrigins []string
}

// signIn is what the stack's sign-in set-up gives the API.
type signIn struct {
	authorizer awsapigatewayv2.IHttpRouteAuthorizer
	issuer     *string
	clientID   *string
	// pool and domain are the Cognito user pool and its hosted sign-in domain; nil with an
	// external provider.
	pool   awscognito.UserPool
	domain awscognito.UserPoolDomain
}

// newSignIn sets up sign-in for api: the Cognito user pool (the default) or the external
// provider of p.OIDC, the api function's OIDC_* environment, and the JWT authorizer of the
// human routes.
func newSignIn(stack awscdk.Stack, p ControlPlaneStackProps, api awsapigatewayv2.HttpApi, fn awslambda.Function) signIn {
	var s signIn
	env := map[string]*string{}
	if o := p.OIDC; o != nil {
		s.issuer, s.clientID = jsii.String(o.Issuer), jsii.String(o.ClientID)
		for k, v := range map[string]string{envOIDCGroupsClaim: o.GroupsClaim, envOIDCUsernameClaim: o.UsernameClaim,
			envOIDCAdminGroup: o.AdminGroup, envOIDCScopes: o.Scopes, envOIDCProviderOrigins: strings.Join(o.ProviderOrigins, ",")} {
			if v != "" {
				env[k] = jsii.String(v)
			}
		}
	} else {
		s.pool, s.domain, s.clientID = newUserPool(stack, p, api)
		s.issuer = s.pool.UserPoolProviderUrl()
		env[envOIDCGroupsClaim] = jsii.String(cognitoGroupsClaim)
		env[envOIDCUsernameClaim] = jsii.String(cognitoUsernameClaim)
		env[envOIDCAdminGroup] = jsii.String(CognitoAdminGroup)
		env[envOIDCScopes] = jsii.String(cognitoScopes)
		// The token endpoint is on the hosted sign-in domain, not the issuer's origin.
		env[envOIDCProviderOrigins] = s.domain.BaseUrl(nil)
	}
	env[envOIDCIssuer], env[envOIDCClientID] = s.issuer, s.clientID
	for k, v := range env {
		fn.AddEnvironment(jsii.String(k), v, nil)
	}
	s.authorizer = awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("SignInAuthorizer"), s.issuer,
		&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
			AuthorizerName: jsii.String("id-token"),
			JwtAudience:    &[]*string{s.clientID},
		})
	return s
}

// consoleURL is the console's address on api: where the provider sends the code back.
func consoleURL(api awsapigatewayv2.HttpApi) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{api.Url(), jsii.String("console/")})
}

// newUserPool creates the Cognito user pool people sign in with: no self sign-up (an
// administrator creates people, or federates the organisation's provider into the pool), MFA
// with an authenticator app, a strong password policy, the administrators' group, the hosted
// sign-in domain, and the console's public client (authorization code with PKCE, no secret).
func newUserPool(stack awscdk.Stack, p ControlPlaneStackProps, api awsapigatewayv2.HttpApi) (awscognito.UserPool, awscognito.UserPoolDomain, *string) {
	pool := awscognito.NewUserPool(stack, jsii.String("UserPool"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Username: jsii.Bool(true), Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		Mfa:               awscognito.Mfa_REQUIRED,
		MfaSecondFactor:   &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
		},
		AccountRecovery:    awscognito.AccountRecovery_EMAIL_ONLY,
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	})
	for _, rule := range []string{"AwsSolutions-COG3", "AwsSolutions-COG8"} {
		suppress(pool, false, rule,
			"Threat protection (advanced security) needs the Plus feature plan, billed per monthly active user; an operator who wants it sets the plan on the pool. Sign-in requires MFA and a strong password, there is no self sign-up, and organisations usually federate their own provider.")
	}
	awscognito.NewCfnUserPoolGroup(stack, jsii.String("AdminGroup"), &awscognito.CfnUserPoolGroupProps{
		UserPoolId:  pool.UserPoolId(),
		GroupName:   jsii.String(CognitoAdminGroup),
		Description: jsii.String("Administrators of the workspace policy control plane (OIDC_ADMIN_GROUP)."),
	})
	prefix := p.CognitoDomainPrefix
	var prefixToken *string
	if prefix != "" {
		prefixToken = jsii.String(prefix)
	} else {
		// Unique per stack and account: the prefix is global to the region.
		prefixToken = awscdk.Fn_Join(jsii.String("-"), &[]*string{jsii.String(strings.ToLower(*stack.StackName())), stack.Account()})
	}
	domain := pool.AddDomain(jsii.String("SignInDomain"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: prefixToken},
	})
	client := pool.AddClient(jsii.String("ConsoleClient"), &awscognito.UserPoolClientOptions{
		UserPoolClientName:         jsii.String("wspolicy-console"),
		GenerateSecret:             jsii.Bool(false),
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity:       awscdk.Duration_Hours(jsii.Number(12)),
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: &[]*string{consoleURL(api)},
			LogoutUrls:   &[]*string{consoleURL(api)},
		},
	})
	return pool, domain, client.UserPoolClientId()
}
