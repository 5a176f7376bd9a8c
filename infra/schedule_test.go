package main

import (
	"testing"

	"github.com/aws/jsii-runtime-go"
)

func TestSweepSchedule(t *testing.T) {
	sweeper := logicalID(t, "AWS::Lambda::Function", "SweeperFunction")
	noPanic(t, "rate(1 minute) rule targeting the sweeper", func() {
		tmpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
			"ScheduleExpression": "rate(1 minute)",
			"State":              "ENABLED",
			"Targets": []any{map[string]any{
				"Arn": getAtt(sweeper, "Arn"),
				"Id":  "Target0",
				"RetryPolicy": map[string]any{
					"MaximumEventAgeInSeconds": 60,
					"MaximumRetryAttempts":     2,
				},
			}},
		})
	})
	noPanic(t, "EventBridge may invoke the sweeper", func() {
		tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]any{
			"Action":       "lambda:InvokeFunction",
			"FunctionName": getAtt(sweeper, "Arn"),
			"Principal":    "events.amazonaws.com",
		})
	})
	noPanic(t, "a failed sweep is not retried asynchronously", func() {
		tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
			"FunctionName":         ref(sweeper),
			"MaximumRetryAttempts": 0,
		})
	})
}
