package main

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// apiRoutePaths are the paths the HTTP API forwards (any method) to the api function; the
// function's own router does the rest. The API's $default route (the catch-all AWS documents
// for "no other route matches") goes to the function too: that is what guarantees /console/,
// since AWS documents neither that a greedy {proxy+} matches an empty segment nor how a
// trailing slash matches, and CDK refuses a route path ending in "/". The function answers
// any other path with its JSON 404.
var apiRoutePaths = []string{"/v1/{proxy+}", "/console", "/console/{proxy+}"}

// accessLogFormat is the stage's access log line, JSON: who called what, the answer, and
// how long the function took. It holds no header (so no key).
var accessLogFormat = map[string]string{
	"requestId":          "$context.requestId",
	"ip":                 "$context.identity.sourceIp",
	"requestTime":        "$context.requestTime",
	"httpMethod":         "$context.httpMethod",
	"routeKey":           "$context.routeKey",
	"path":               "$context.path",
	"protocol":           "$context.protocol",
	"status":             "$context.status",
	"responseLength":     "$context.responseLength",
	"responseLatency":    "$context.responseLatency",
	"integrationLatency": "$context.integrationLatency",
	"integrationError":   "$context.integrationErrorMessage",
	"userAgent":          "$context.identity.userAgent",
}

// newHTTPAPI builds the HTTP API with a Lambda proxy integration (payload format 2.0) on the
// api function for every route in apiRoutePaths, and for ssoRoutePath behind the JWT
// authorizer of the stack's sign-in (newSignIn).
//
// Its default stage throttles every route to the props' rate and burst and writes a JSON access
// log line per request to its own log group.
func newHTTPAPI(stack awscdk.Stack, p ControlPlaneStackProps, fn awslambda.Function) (awsapigatewayv2.HttpApi, signIn) {
	api := awsapigatewayv2.NewHttpApi(stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("Workspace policy control plane API."),
	})
	accessLogs := awslogs.NewLogGroup(stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	format, err := json.Marshal(accessLogFormat)
	if err != nil {
		panic(err) // static data
	}
	stage, ok := api.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	if !ok {
		panic("infra: the HTTP API's default stage has no CfnStage")
	}
	stage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(),
		Format:         jsii.String(string(format)),
	})
	stage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingRateLimit:  jsii.Number(p.ThrottleRate),
		ThrottlingBurstLimit: jsii.Number(p.ThrottleBurst),
	})
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("ApiIntegration"), fn,
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
			PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
		})
	var routes []awsapigatewayv2.HttpRoute
	for _, path := range apiRoutePaths {
		routes = append(routes, *api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_ANY},
			Integration: integration,
		})...)
	}
	routes = append(routes, awsapigatewayv2.NewHttpRoute(stack, jsii.String("DefaultRoute"), &awsapigatewayv2.HttpRouteProps{
		HttpApi:     api,
		RouteKey:    awsapigatewayv2.HttpRouteKey_DEFAULT(),
		Integration: integration,
	}))
	for _, r := range routes {
		suppress(r, true, "AwsSolutions-APIG4",
			"The api function authenticates every /v1 request itself (Bearer API keys, hashed in the table; a missing or malformed key is refused before any read); /console serves public static files, and the health and OpenAPI routes are public by design. People's ID tokens go to /sso/v1, behind the JWT authorizer.")
	}
	si := newSignIn(stack, p, api, fn)
	api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String(ssoRoutePath),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_ANY},
		Integration: integration,
		Authorizer:  si.authorizer,
	})
	return api, si
}
