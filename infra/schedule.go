package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// newSweepSchedule invokes the sweeper once a minute. A missed or failed sweep is not retried
// for long: the next one does its work.
func newSweepSchedule(stack awscdk.Stack, sweeper awslambda.Function) awsevents.Rule {
	rule := awsevents.NewRule(stack, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		Description: jsii.String("Runs the sweeps every minute."),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Targets: &[]awsevents.IRuleTarget{
			awseventstargets.NewLambdaFunction(sweeper, &awseventstargets.LambdaFunctionProps{
				RetryAttempts: jsii.Number(2),
				MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(1)),
			}),
		},
	})
	suppress(rule, false, "Serverless-EventBusDLQ",
		"A sweep event that could not be delivered within its minute is worthless: the next minute's event runs the same sweep. A dead-letter queue would hold stale minutes nobody should replay.")
	return rule
}
