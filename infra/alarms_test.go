package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func TestAlarms(t *testing.T) {
	topic := ref(logicalID(t, "AWS::SNS::Topic", "AlarmTopic"))
	type alarm struct {
		name       string
		namespace  string
		metric     string
		dimension  map[string]any // nil: none
		comparison string
		threshold  float64
		statistic  string // "" : not checked
	}
	var tests []alarm
	for _, spec := range functionSpecs() {
		fn := map[string]any{"Name": "FunctionName", "Value": ref(logicalID(t, "AWS::Lambda::Function", spec.id+"Function"))}
		for _, metric := range []string{"Errors", "Throttles"} {
			tests = append(tests, alarm{
				name: spec.name + " " + metric, namespace: "AWS/Lambda", metric: metric, dimension: fn,
				comparison: "GreaterThanOrEqualToThreshold", threshold: 1,
			})
		}
	}
	tests = append(tests,
		alarm{
			name: "dead letters", namespace: "AWS/SQS", metric: "ApproximateNumberOfMessagesVisible",
			dimension:  map[string]any{"Name": "QueueName", "Value": getAtt(logicalID(t, "AWS::SQS::Queue", "StreamDeadLetters"), "QueueName")},
			comparison: "GreaterThanThreshold", threshold: 0,
		},
		alarm{
			name: "publisher iterator age", namespace: "AWS/Lambda", metric: "IteratorAge",
			dimension:  map[string]any{"Name": "FunctionName", "Value": ref(logicalID(t, "AWS::Lambda::Function", "PublisherFunction"))},
			comparison: "GreaterThanThreshold", threshold: streamIteratorAgeLimit,
		},
		alarm{
			name: "failed countdowns", namespace: "AWS/States", metric: "ExecutionsFailed",
			dimension:  map[string]any{"Name": "StateMachineArn", "Value": ref(logicalID(t, "AWS::StepFunctions::StateMachine", "Countdown"))},
			comparison: "GreaterThanOrEqualToThreshold", threshold: 1,
		},
		alarm{
			name: "timed-out countdowns", namespace: "AWS/States", metric: "ExecutionsTimedOut",
			dimension:  map[string]any{"Name": "StateMachineArn", "Value": ref(logicalID(t, "AWS::StepFunctions::StateMachine", "Countdown"))},
			comparison: "GreaterThanOrEqualToThreshold", threshold: 1,
		},
		alarm{
			name: "expiry lag", namespace: "WsPolicy/Test", metric: "ExpiryLag",
			comparison: "GreaterThanThreshold", threshold: expiryLagLimit, statistic: "Maximum",
		},
		alarm{
			name: "countdown drift of warnings", namespace: "WsPolicy/Test", metric: "CountdownDrift",
			dimension:  map[string]any{"Name": "Action", "Value": "warn"},
			comparison: "GreaterThanThreshold", threshold: countdownDriftLimit, statistic: "Maximum",
		},
		alarm{
			name: "countdown drift of expiries", namespace: "WsPolicy/Test", metric: "CountdownDrift",
			dimension:  map[string]any{"Name": "Action", "Value": "expire"},
			comparison: "GreaterThanThreshold", threshold: countdownDriftLimit, statistic: "Maximum",
		},
		alarm{
			name: "API 4xx flood", namespace: "AWS/ApiGateway", metric: "4xx",
			dimension:  map[string]any{"Name": "ApiId", "Value": ref(logicalID(t, "AWS::ApiGatewayV2::Api", "HttpApi"))},
			comparison: "GreaterThanOrEqualToThreshold", threshold: apiClientErrorLimit,
		},
	)
	noPanic(t, "alarm count", func() {
		tmpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Alarm"), jsii.Number(len(tests)))
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string]any{
				"Namespace":          tc.namespace,
				"MetricName":         tc.metric,
				"ComparisonOperator": tc.comparison,
				"Threshold":          tc.threshold,
				"EvaluationPeriods":  1,
				"AlarmActions":       []any{topic},
				"TreatMissingData":   "notBreaching",
			}
			if tc.dimension != nil {
				want["Dimensions"] = []any{tc.dimension}
			} else {
				want["Dimensions"] = assertions.Match_Absent()
			}
			if tc.statistic != "" {
				want["Statistic"] = tc.statistic
			}
			noPanic(t, "alarm", func() {
				tmpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), want)
			})
		})
	}
	noPanic(t, "every alarm notifies the topic", func() {
		tmpl.AllResourcesProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"AlarmActions": assertions.Match_ArrayWith(&[]any{topic}),
		})
	})
}
