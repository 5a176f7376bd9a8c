package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"wspolicy/internal/countdown"
)

// newCountdown builds the time-limit countdown, a STANDARD state machine whose definition is
// the one in internal/countdown, with the task function's ARN substituted. The machine may
// invoke that function and nothing else.
func newCountdown(stack awscdk.Stack, task awslambda.Function) awsstepfunctions.StateMachine {
	sm := awsstepfunctions.NewStateMachine(stack, jsii.String("Countdown"), &awsstepfunctions.StateMachineProps{
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromString(jsii.String(countdown.Definition())),
		DefinitionSubstitutions: &map[string]*string{
			countdown.TimeLimitFunctionArnKey: task.FunctionArn(),
		},
		Comment: jsii.String("Session time-limit countdown: warning, then expiry."),
	})
	task.GrantInvoke(sm)
	return sm
}
