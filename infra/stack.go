package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// DefaultMemoryMB is each function's memory size when the props give none.
const DefaultMemoryMB = 256

// ControlPlaneStackProps configures the control-plane stack. Zero values take the defaults
// documented on each field.
type ControlPlaneStackProps struct {
	awscdk.StackProps

	// AssetDir holds one folder per function (api, sweeper, publisher, timelimit), each with the
	// function's `bootstrap` executable, as `make lambdas` builds them. Required.
	AssetDir string
	// Architecture of the bootstrap binaries; default arm64.
	Architecture awslambda.Architecture
	// MemoryMB is each function's memory size; default DefaultMemoryMB.
	MemoryMB float64
	// TableRemovalPolicy applies to the table when the stack is deleted; default RETAIN.
	TableRemovalPolicy awscdk.RemovalPolicy
	// TableDeletionProtection turns on the table's deletion protection; default true.
	TableDeletionProtection *bool
	// LogRetention is how long function logs are kept; default one month.
	LogRetention awslogs.RetentionDays
}

// withDefaults returns a copy of the props with every unset field given its default.
func (p ControlPlaneStackProps) withDefaults() ControlPlaneStackProps {
	if p.Architecture == nil {
		p.Architecture = awslambda.Architecture_ARM_64()
	}
	if p.MemoryMB == 0 {
		p.MemoryMB = DefaultMemoryMB
	}
	if p.TableRemovalPolicy == "" {
		p.TableRemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.TableDeletionProtection == nil {
		p.TableDeletionProtection = jsii.Bool(true)
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	return p
}

// NewControlPlaneStack builds the whole serverless control plane: the table, the functions, the
// HTTP API, the sweep schedule, the countdown state machine, the event bus, the stream
// publisher with its dead-letter queue, the alarms and the outputs. props.AssetDir is required and
// must hold every function's bootstrap; like CDK constructs, it panics on invalid input.
func NewControlPlaneStack(scope constructs.Construct, id string, props *ControlPlaneStackProps) awscdk.Stack {
	if props == nil || props.AssetDir == "" {
		panic("NewControlPlaneStack: props.AssetDir is required")
	}
	if err := checkAssets(props.AssetDir); err != nil {
		panic("NewControlPlaneStack: " + err.Error())
	}
	p := props.withDefaults()
	stack := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)

	adminKey := awscdk.NewCfnParameter(stack, jsii.String("AdminApiKey"), &awscdk.CfnParameterProps{
		Type:        jsii.String("String"),
		NoEcho:      jsii.Bool(true),
		Default:     jsii.String(""),
		Description: jsii.String("Bootstrap admin API key given to the api function as ADMIN_API_KEY (empty: none)."),
	})

	table := newTable(stack, p)
	bus := newEventBus(stack)
	fns := newFunctions(stack, p, table)
	countdown := newCountdown(stack, fns.timeLimit)
	wireFunctions(fns, bus, countdown, adminKey.ValueAsString())
	dlq := newStreamSource(stack, table, fns.publisher)
	api := newHTTPAPI(stack, fns.api)
	newSweepSchedule(stack, fns.sweeper)
	alarmTopic := newAlarms(stack, fns, dlq, countdown)

	output := func(name string, value *string, description string) {
		awscdk.NewCfnOutput(stack, jsii.String(name), &awscdk.CfnOutputProps{
			Value:       value,
			Description: jsii.String(description),
		})
	}
	output("ApiUrl", api.Url(), "Base URL of the HTTP API (append v1/...).")
	output("TableName", table.TableName(), "Name of the DynamoDB table.")
	output("EventBusName", bus.EventBusName(), "EventBridge bus that receives session events.")
	output("StateMachineArn", countdown.StateMachineArn(), "Time-limit countdown state machine.")
	output("AlarmTopicArn", alarmTopic.TopicArn(), "SNS topic every alarm notifies; subscribe to it.")
	return stack
}
