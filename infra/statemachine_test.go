package main

import (
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
	t.Run("role may only invoke the task function", func(t *testing.T) {
		policy := policyOf(t, "CountdownRole")
		for _, s := range statements() {
			if s.policy != policy {
				continue
			}
			if len(s.actions) != 1 || s.actions[0] != "lambda:InvokeFunction" {
				t.Errorf("state machine role: got actions %v, want only lambda:InvokeFunction", s.actions)
			}
		}
	})
}
