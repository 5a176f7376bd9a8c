package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// TestStageThrottlingAndAccessLogs checks the HTTP API's default stage: every route throttled
// to the props' rate and burst (defaults here; the variant sets its own), and a JSON access log
// line per request in a log group with the stack's retention.
func TestStageThrottlingAndAccessLogs(t *testing.T) {
	stages := resourcesOfType("AWS::ApiGatewayV2::Stage")
	if len(stages) != 1 {
		t.Fatalf("stages: got %v, want the one default stage", stages)
	}
	props := doc.Resources[stages[0]].Properties
	if props["StageName"] != "$default" || props["AutoDeploy"] != true {
		t.Errorf("stage: got name %v auto-deploy %v, want $default, true", props["StageName"], props["AutoDeploy"])
	}
	route, _ := props["DefaultRouteSettings"].(map[string]any)
	if route["ThrottlingRateLimit"] != float64(DefaultThrottleRate) || route["ThrottlingBurstLimit"] != float64(DefaultThrottleBurst) {
		t.Errorf("DefaultRouteSettings: got %s, want rate %d burst %d", asJSON(route), DefaultThrottleRate, DefaultThrottleBurst)
	}
	logs := logicalID(t, "AWS::Logs::LogGroup", "ApiAccessLogs")
	access, _ := props["AccessLogSettings"].(map[string]any)
	if got, want := asJSON(access["DestinationArn"]), asJSON(getAtt(logs, "Arn")); got != want {
		t.Errorf("access log destination: got %s, want %s", got, want)
	}
	var format map[string]string
	if err := json.Unmarshal([]byte(access["Format"].(string)), &format); err != nil {
		t.Fatalf("access log format is not JSON: %v", err)
	}
	for _, k := range []string{"requestId", "ip", "routeKey", "status", "integrationLatency"} {
		if !strings.HasPrefix(format[k], "$context.") {
			t.Errorf("access log field %s: got %q, want a $context variable", k, format[k])
		}
	}
	for k, v := range format {
		if strings.Contains(strings.ToLower(v), "authorization") || strings.Contains(strings.ToLower(k), "header") {
			t.Errorf("access log field %s=%s could log a key", k, v)
		}
	}
	if got := doc.Resources[logs].Properties["RetentionInDays"]; got != 30.0 {
		t.Errorf("access log retention: got %v days, want 30", got)
	}
	noPanic(t, "variant throttling", func() {
		variantTmpl.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), map[string]any{
			"DefaultRouteSettings": map[string]any{"ThrottlingRateLimit": variantThrottleRate, "ThrottlingBurstLimit": variantThrottleBurst},
		})
	})
}

// TestReservedConcurrency checks that the api function is capped and the sweeper and the
// countdown task keep concurrency of their own; the variant reserves none.
func TestReservedConcurrency(t *testing.T) {
	want := map[string]any{"ApiFunction": float64(DefaultAPIConcurrency), "SweeperFunction": 1.0,
		"TimeLimitFunction": float64(DefaultTimeLimitConcurrency), "PublisherFunction": nil}
	for prefix, n := range want {
		got := doc.Resources[logicalID(t, "AWS::Lambda::Function", prefix)].Properties["ReservedConcurrentExecutions"]
		if got != n {
			t.Errorf("%s: reserved concurrency %v, want %v", prefix, got, n)
		}
	}
	noPanic(t, "the variant reserves nothing", func() {
		variantTmpl.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
			"ReservedConcurrentExecutions": assertions.Match_Absent(),
		})
	})
}

// TestSweeperAsyncConfig checks the sweeper's asynchronous invocation config: no retry, and an
// event older than a minute is dropped (Lambda's default keeps it six hours).
func TestSweeperAsyncConfig(t *testing.T) {
	noPanic(t, "event invoke config", func() {
		tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
			"FunctionName":             ref(logicalID(t, "AWS::Lambda::Function", "SweeperFunction")),
			"MaximumRetryAttempts":     0,
			"MaximumEventAgeInSeconds": 60,
		})
	})
}

// TestAlarmTopicRequiresTLS checks that the alarm topic refuses publishers without TLS.
func TestAlarmTopicRequiresTLS(t *testing.T) {
	noPanic(t, "topic policy", func() {
		tmpl.HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), map[string]any{
			"PolicyDocument": map[string]any{"Statement": []any{map[string]any{
				"Action":    "sns:Publish",
				"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				"Effect":    "Deny",
				"Principal": "*",
				"Resource":  ref(logicalID(t, "AWS::SNS::Topic", "AlarmTopic")),
				"Sid":       "AllowPublishThroughSSLOnly",
			}}},
		})
	})
}

// TestDashboard checks the dashboard: named after the stack, with a widget for each figure the
// functions send and graphs of the functions' own metrics in the stack's namespace.
func TestDashboard(t *testing.T) {
	ids := resourcesOfType("AWS::CloudWatch::Dashboard")
	if len(ids) != 1 {
		t.Fatalf("dashboards: got %v, want one", ids)
	}
	props := doc.Resources[ids[0]].Properties
	if props["DashboardName"] != "Test" {
		t.Errorf("DashboardName: got %v, want the stack's name", props["DashboardName"])
	}
	body := asJSON(props["DashboardBody"])
	for _, want := range []string{widgetSessions, widgetExpiry, widgetCountdown, widgetPublish, widgetAPI, widgetLambda,
		`\"WsPolicy/Test\",\"Keepalives\"`, `\"WsPolicy/Test\",\"SessionsStarted\"`, `MetricName=\\\"SessionsEnded\\\"`,
		`\"WsPolicy/Test\",\"ExpiryLag\"`, `\"WsPolicy/Test\",\"SweepDuration\"`, `MetricName=\\\"CountdownDrift\\\"`,
		`\"WsPolicy/Test\",\"PublishFailures\"`, `ExecutionsTimedOut`, `ConcurrentExecutions`} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard body lacks %s", want)
		}
	}
}
