package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"wspolicy/internal/countdown"
)

// newCountdown builds the time-limit countdown, a STANDARD state machine whose definition is
// the one in internal/countdown, with the task function's ARN substituted. The machine may
// invoke that function and nothing else.
//
// Every execution event goes to its log group (without execution data: session ids and times
// are in the table), and executions are traced with X-Ray.
func newCountdown(stack awscdk.Stack, p ControlPlaneStackProps, task awslambda.Function) awsstepfunctions.StateMachine {
	logs := awslogs.NewLogGroup(stack, jsii.String("CountdownLogs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	sm := awsstepfunctions.NewStateMachine(stack, jsii.String("Countdown"), &awsstepfunctions.StateMachineProps{
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logs,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(false),
		},
		TracingEnabled:   jsii.Bool(true),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromString(jsii.String(countdown.Definition())),
		DefinitionSubstitutions: &map[string]*string{
			countdown.TimeLimitFunctionArnKey: task.FunctionArn(),
		},
		Comment: jsii.String("Session time-limit countdown: warning, then expiry."),
	})
	// The definition invokes the unqualified function ARN: that ARN, no version or alias.
	sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: jsii.Strings(*task.FunctionArn()),
	}))
	suppress(sm, true, "AwsSolutions-IAM5",
		"CloudWatch Logs log delivery (logs:CreateLogDelivery and the like) and X-Ray's PutTraceSegments have no resource-level permissions: Resource \"*\" is the only form IAM accepts. CDK adds them for the state machine's logging and tracing.",
		"Resource::*")
	return sm
}
