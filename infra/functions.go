package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
)

// Function names: each is a folder under functions/ in the repository and under the asset
// directory, where it holds the `bootstrap` executable.
const (
	fnAPI       = "api"
	fnSweeper   = "sweeper"
	fnPublisher = "publisher"
	fnTimeLimit = "timelimit"
)

// functionNames lists every function, in the order the Makefile's LAMBDAS does.
var functionNames = []string{fnAPI, fnSweeper, fnPublisher, fnTimeLimit}

// Environment variable names the functions read.
const (
	envTableName       = "TABLE_NAME"
	envEventBusName    = "EVENT_BUS_NAME"
	envStateMachineArn = "STATE_MACHINE_ARN"
	envAdminAPIKey     = "ADMIN_API_KEY"
)

// tableDataActions are the item-level DynamoDB actions a function may use on the table and its
// indexes: single-item reads and writes (also what transactions are authorised as), batches,
// queries, condition checks. No Scan, no table management, no wildcard.
var tableDataActions = []string{
	"dynamodb:GetItem",
	"dynamodb:BatchGetItem",
	"dynamodb:Query",
	"dynamodb:ConditionCheckItem",
	"dynamodb:PutItem",
	"dynamodb:UpdateItem",
	"dynamodb:DeleteItem",
	"dynamodb:BatchWriteItem",
}

// functionSpec is what differs between the functions.
type functionSpec struct {
	name         string
	id           string // construct id prefix
	description  string
	timeout      awscdk.Duration
	tableActions []string
	// asyncRetries bounds retries of asynchronous invocations (the schedule); nil leaves
	// Lambda's default.
	asyncRetries *float64
}

func functionSpecs() []functionSpec {
	return []functionSpec{
		{
			name:         fnAPI,
			id:           "Api",
			description:  "HTTP API: catalog, groups, settings, users, keys, sessions, on-demand sweeps.",
			timeout:      awscdk.Duration_Seconds(jsii.Number(29)),
			tableActions: tableDataActions,
		},
		{
			name:         fnSweeper,
			id:           "Sweeper",
			description:  "Minutely sweep: keepalive expiry, usage limits, missed time limits, settings changes.",
			timeout:      awscdk.Duration_Seconds(jsii.Number(55)),
			tableActions: tableDataActions,
			// The next minute's sweep is the retry.
			asyncRetries: jsii.Number(0),
		},
		{
			name:         fnPublisher,
			id:           "Publisher",
			description:  "Table stream: publishes outbox session events to EventBridge, finalises TTL deletions.",
			timeout:      awscdk.Duration_Seconds(jsii.Number(30)),
			tableActions: tableDataActions,
		},
		{
			name:         fnTimeLimit,
			id:           "TimeLimit",
			description:  "Time-limit countdown task: emits the warning, deletes the session at its limit.",
			timeout:      awscdk.Duration_Seconds(jsii.Number(30)),
			tableActions: tableDataActions,
		},
	}
}

// functions are the stack's Lambda functions.
type functions struct {
	api, sweeper, publisher, timeLimit awslambda.Function
}

// all returns every function by name.
func (f functions) all() map[string]awslambda.Function {
	return map[string]awslambda.Function{
		fnAPI: f.api, fnSweeper: f.sweeper, fnPublisher: f.publisher, fnTimeLimit: f.timeLimit,
	}
}

// checkAssets reports a missing bootstrap executable under dir for any function.
func checkAssets(dir string) error {
	var errs []error
	for _, name := range functionNames {
		path := filepath.Join(dir, name, "bootstrap")
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lambda assets in %s (build them with `make lambdas`): %w", dir, err)
	}
	return nil
}

// newFunctions creates every function from its bootstrap asset with its own log group, and
// grants each one its item-level actions on the table.
func newFunctions(stack awscdk.Stack, p ControlPlaneStackProps, table awsdynamodb.Table) functions {
	made := map[string]awslambda.Function{}
	for _, spec := range functionSpecs() {
		id := spec.id
		logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
			Retention:     p.LogRetention,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		fn := awslambda.NewFunction(stack, jsii.String(id+"Function"), &awslambda.FunctionProps{
			Description:   jsii.String(spec.description),
			Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:  p.Architecture,
			Handler:       jsii.String("bootstrap"),
			Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(p.AssetDir, spec.name)), nil),
			MemorySize:    jsii.Number(p.MemoryMB),
			Timeout:       spec.timeout,
			LoggingFormat: awslambda.LoggingFormat_JSON,
			LogGroup:      logs,
			RetryAttempts: spec.asyncRetries,
			Environment: &map[string]*string{
				envTableName: table.TableName(),
			},
		})
		grantTable(fn, table, spec.tableActions)
		made[spec.name] = fn
	}
	return functions{
		api:       made[fnAPI],
		sweeper:   made[fnSweeper],
		publisher: made[fnPublisher],
		timeLimit: made[fnTimeLimit],
	}
}

// wireFunctions gives the functions what they use besides the table: the api and the sweeper
// start and stop countdown executions, the publisher puts events on the bus, the api gets the
// bootstrap admin key.
func wireFunctions(f functions, bus awsevents.EventBus, countdown awsstepfunctions.StateMachine, adminKey *string) {
	for _, fn := range []awslambda.Function{f.api, f.sweeper} {
		fn.AddEnvironment(jsii.String(envStateMachineArn), countdown.StateMachineArn(), nil)
		countdown.GrantStartExecution(fn)
		countdown.GrantExecution(fn, jsii.String("states:StopExecution"), jsii.String("states:DescribeExecution"))
	}
	f.api.AddEnvironment(jsii.String(envAdminAPIKey), adminKey, nil)
	f.publisher.AddEnvironment(jsii.String(envEventBusName), bus.EventBusName(), nil)
	bus.GrantPutEventsTo(f.publisher, nil)
}

// grantTable allows the given item-level actions on the table and its indexes only.
func grantTable(fn awslambda.Function, table awsdynamodb.Table, actions []string) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(*table.TableArn(), *table.TableArn()+"/index/*"),
	}))
}
