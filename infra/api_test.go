package main

import (
	"testing"

	"github.com/aws/jsii-runtime-go"
)

func TestAPIRoutes(t *testing.T) {
	noPanic(t, "one HTTP API", func() {
		tmpl.ResourceCountIs(jsii.String("AWS::ApiGatewayV2::Api"), jsii.Number(1))
		tmpl.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), map[string]any{"ProtocolType": "HTTP"})
	})
	noPanic(t, "one route per path", func() {
		tmpl.ResourceCountIs(jsii.String("AWS::ApiGatewayV2::Route"), jsii.Number(len(apiRoutePaths)+2)) // + $default, /sso/v1
	})
	fn := logicalID(t, "AWS::Lambda::Function", "ApiFunction")
	integration := resourcesOfType("AWS::ApiGatewayV2::Integration")
	if len(integration) != 1 {
		t.Fatalf("integrations: got %v, want one shared by every route", integration)
	}
	t.Run("integration", func(t *testing.T) {
		props := doc.Resources[integration[0]].Properties
		want := map[string]any{
			"IntegrationType":      "AWS_PROXY",
			"PayloadFormatVersion": "2.0",
			"IntegrationUri":       getAtt(fn, "Arn"),
		}
		for k, v := range want {
			if got := asJSON(props[k]); got != asJSON(v) {
				t.Errorf("%s: got %s, want %s", k, got, asJSON(v))
			}
		}
	})
	for _, key := range []string{"ANY /v1/{proxy+}", "ANY /console", "ANY /console/{proxy+}", "$default", "ANY " + ssoRoutePath} {
		t.Run(key, func(t *testing.T) {
			noPanic(t, "route "+key, func() {
				tmpl.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Route"), map[string]any{
					"RouteKey": key,
					"Target":   map[string]any{"Fn::Join": []any{"", []any{"integrations/", ref(integration[0])}}},
				})
			})
		})
	}
	noPanic(t, "API Gateway may invoke the api function", func() {
		tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]any{
			"Action":       "lambda:InvokeFunction",
			"FunctionName": getAtt(fn, "Arn"),
			"Principal":    "apigateway.amazonaws.com",
		})
	})
}
