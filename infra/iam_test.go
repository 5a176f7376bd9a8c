package main

import (
	"sort"
	"strings"
	"testing"

	"wspolicy/internal/awsops"
)

// platformOps are what a function's role allows besides the operations its code performs:
// the Lambda service acting for the function (its logs, the publisher's stream polling and
// on-failure queue). Each is "<action> <resource kind>".
var platformOps = map[string][]string{
	fnAPI:       {"logs:CreateLogStream logs", "logs:PutLogEvents logs"},
	fnSweeper:   {"logs:CreateLogStream logs", "logs:PutLogEvents logs"},
	fnTimeLimit: {"logs:CreateLogStream logs", "logs:PutLogEvents logs"},
	fnPublisher: {
		"logs:CreateLogStream logs", "logs:PutLogEvents logs",
		// The event source mapping reads the stream with the function's role...
		"dynamodb:DescribeStream stream", "dynamodb:GetRecords stream", "dynamodb:GetShardIterator stream",
		// ...lists streams (no resource-level permission exists for it)...
		"dynamodb:ListStreams *",
		// ...and sends the descriptions of failed batches to the dead-letter queue.
		"sqs:GetQueueAttributes deadLetters", "sqs:GetQueueUrl deadLetters", "sqs:SendMessage deadLetters",
	},
}

// TestIAMPerFunction checks that each function's role allows exactly the AWS operations its
// code performs — as its tests recorded them (internal/awsops/granted/<function>.txt) — plus
// the platform's own, each on its one resource: nothing missing, nothing extra, no managed
// policy, no wildcard beyond ListStreams and the countdown's executions.
func TestIAMPerFunction(t *testing.T) {
	table := logicalID(t, "AWS::DynamoDB::Table", "Table")
	kinds := map[string]string{
		asJSON(getAtt(table, "Arn")):                                                  awsops.ResourceTable,
		asJSON(getAtt(table, "StreamArn")):                                            "stream",
		asJSON(ref(logicalID(t, "AWS::StepFunctions::StateMachine", "Countdown"))):    awsops.ResourceStateMachine,
		asJSON(getAtt(logicalID(t, "AWS::Events::EventBus", "SessionEvents"), "Arn")): awsops.ResourceEventBus,
		asJSON(ref(logicalID(t, "AWS::SecretsManager::Secret", "AdminApiKey"))):       awsops.ResourceSecret,
		asJSON(getAtt(logicalID(t, "AWS::SQS::Queue", "StreamDeadLetters"), "Arn")):   "deadLetters",
		`"*"`: "*",
	}
	kindOf := func(fnID string, r any) string {
		js := asJSON(r)
		if k, ok := kinds[js]; ok {
			return k
		}
		if js == asJSON(getAtt(logicalID(t, "AWS::Logs::LogGroup", fnID+"Logs"), "Arn")) {
			return "logs"
		}
		if strings.Contains(js, ":execution:") && strings.Contains(js, asJSON(ref(logicalID(t, "AWS::StepFunctions::StateMachine", "Countdown")))) {
			return awsops.ResourceExecution
		}
		for _, ix := range []string{"GSI1", "Due"} {
			if js == asJSON(map[string]any{"Fn::Join": []any{"", []any{getAtt(table, "Arn"), "/index/" + ix}}}) {
				return awsops.ResourceIndexPrefix + ix
			}
		}
		return "unknown:" + js
	}
	for _, spec := range functionSpecs() {
		t.Run(spec.name, func(t *testing.T) {
			role := logicalID(t, "AWS::IAM::Role", spec.id+"Role")
			if got := doc.Resources[role].Properties["ManagedPolicyArns"]; got != nil {
				t.Errorf("role %s: managed policies %s, want none", role, asJSON(got))
			}
			var got []string
			for _, id := range resourcesOfType("AWS::IAM::Policy") {
				props := doc.Resources[id].Properties
				attached := false
				for _, r := range list1(props["Roles"]) {
					attached = attached || asJSON(r) == asJSON(ref(role))
				}
				if !attached {
					continue
				}
				docu, _ := props["PolicyDocument"].(map[string]any)
				for _, st := range list1(docu["Statement"]) {
					m, _ := st.(map[string]any)
					if m["Effect"] != "Allow" {
						t.Errorf("policy %s: a statement with effect %v", id, m["Effect"])
					}
					for _, a := range strs(m["Action"]) {
						for _, r := range list1(m["Resource"]) {
							got = append(got, a+" "+kindOf(spec.id, r))
						}
					}
				}
			}
			ops, err := awsops.Granted(spec.name)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string(nil), platformOps[spec.name]...)
			for _, op := range ops {
				want = append(want, op.String())
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("role %s allows:\n  %s\nwant exactly:\n  %s", role, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// TestIAMFunctionsDiffer checks that least privilege shows: no two functions are granted the
// same operations.
func TestIAMFunctionsDiffer(t *testing.T) {
	seen := map[string]string{}
	for _, name := range functionNames {
		ops, err := awsops.Granted(name)
		if err != nil {
			t.Fatal(err)
		}
		var list []string
		for _, op := range ops {
			list = append(list, op.String())
		}
		key := strings.Join(list, ",")
		if other, ok := seen[key]; ok {
			t.Errorf("functions %s and %s are granted the same operations", other, name)
		}
		seen[key] = name
	}
}
