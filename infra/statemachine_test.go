package main

import (
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"wspolicy/internal/countdown"
)

func TestCountdownStateMachine(t *testing.T) {
	noPanic(t, "one state machine", func() {
		tmpl.ResourceCountIs(jsii.String("AWS::StepFunctions::StateMachine"), jsii.Number(1))
	})
	props := doc.Resources[logicalID(t, "AWS::StepFunctions::StateMachine", "Countdown")].Properties
	task := logicalID(t, "AWS::Lambda::Function", "TimeLimitFunction")
	tests := []struct {
		field string
		want  any
	}{
		{field: "StateMachineType", want: "STANDARD"},
		{field: "DefinitionString", want: countdown.Definition()},
		{field: "DefinitionSubstitutions", want: map[string]any{
			countdown.TimeLimitFunctionArnKey: getAtt(task, "Arn"),
		}},
		{field: "RoleArn", want: getAtt(logicalID(t, "AWS::IAM::Role", "CountdownRole"), "Arn")},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			if got := asJSON(props[tc.field]); got != asJSON(tc.want) {
				t.Errorf("%s: got %s, want %s", tc.field, got, asJSON(tc.want))
			}
		})
	}
	t.Run("role may invoke the task function, log and trace, nothing else", func(t *testing.T) {
		policy := policyOf(t, "CountdownRole")
		invoke := false
		for _, s := range statements() {
			if s.policy != policy {
				continue
			}
			for _, a := range s.actions {
				switch {
				case a == "lambda:InvokeFunction":
					invoke = true
					if got, want := asJSON(s.resources), asJSON([]any{getAtt(task, "Arn")}); got != want {
						t.Errorf("lambda:InvokeFunction on %s, want only %s (no version or alias wildcard)", got, want)
					}
				case strings.HasPrefix(a, "logs:") || strings.HasPrefix(a, "xray:"):
					// Log delivery and tracing: no resource-level permissions exist for them.
				default:
					t.Errorf("state machine role: action %s, want only lambda:InvokeFunction, logs and X-Ray", a)
				}
			}
		}
		if !invoke {
			t.Errorf("state machine role: may not invoke the task function")
		}
	})
	t.Run("logs every event and traces", func(t *testing.T) {
		logs := getAtt(logicalID(t, "AWS::Logs::LogGroup", "CountdownLogs"), "Arn")
		want := map[string]any{
			"LoggingConfiguration": map[string]any{
				"Destinations":         []any{map[string]any{"CloudWatchLogsLogGroup": map[string]any{"LogGroupArn": logs}}},
				"IncludeExecutionData": false,
				"Level":                "ALL",
			},
			"TracingConfiguration": map[string]any{"Enabled": true},
		}
		for k, v := range want {
			if got := asJSON(props[k]); got != asJSON(v) {
				t.Errorf("%s: got %s, want %s", k, got, asJSON(v))
			}
		}
	})
}
