package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"wspolicy/internal/awsops"
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
	envTableName         = "TABLE_NAME"
	envEventBusName      = "EVENT_BUS_NAME"
	envStateMachineArn   = "STATE_MACHINE_ARN"
	envAdminKeySecretArn = "ADMIN_API_KEY_SECRET_ARN"
	envMetricsNamespace  = "METRICS_NAMESPACE"
)

// functionSpec is what differs between the functions.
type functionSpec struct {
	name        string
	id          string // construct id prefix
	description string
	timeout     awscdk.Duration
	// asyncRetries and maxEventAge bound asynchronous invocations (the schedule); nil leaves
	// Lambda's defaults.
	asyncRetries *float64
	maxEventAge  awscdk.Duration
	// invokedBy says how the function is invoked, the reason it needs no dead-letter queue
	// of its own (cdk-nag Serverless-LambdaDLQ).
	invokedBy string
}

func functionSpecs() []functionSpec {
	return []functionSpec{
		{
			name:        fnAPI,
			id:          "Api",
			description: "HTTP API: catalog, groups, settings, users, keys, sessions, on-demand sweeps.",
			timeout:     awscdk.Duration_Seconds(jsii.Number(29)),
			invokedBy:   "API Gateway invokes it synchronously: a failure is the HTTP response, there is no event to keep.",
		},
		{
			name:        fnSweeper,
			id:          "Sweeper",
			description: "Minutely sweep: keepalive expiry, usage limits, missed time limits, settings changes.",
			timeout:     awscdk.Duration_Seconds(jsii.Number(55)),
			// The next minute's sweep is the retry: no retry, and an event that waited a minute
			// (the next one is due) is dropped instead of the 6-hour default.
			asyncRetries: jsii.Number(0),
			maxEventAge:  awscdk.Duration_Minutes(jsii.Number(1)),
			invokedBy:    "The schedule invokes it every minute and the next sweep redoes whatever a failed one left (the sweep is idempotent); a failure raises the Errors alarm. A kept event would be a stale minute nobody should replay.",
		},
		{
			name:        fnPublisher,
			id:          "Publisher",
			description: "Table stream: publishes outbox session events to EventBridge, finalises TTL deletions.",
			timeout:     awscdk.Duration_Seconds(jsii.Number(30)),
			invokedBy:   "The DynamoDB stream event source invokes it; records that keep failing go to the event source mapping's on-failure queue (StreamDeadLetters).",
		},
		{
			name:        fnTimeLimit,
			id:          "TimeLimit",
			description: "Time-limit countdown task: emits the warning, deletes the session at its limit.",
			timeout:     awscdk.Duration_Seconds(jsii.Number(30)),
			invokedBy:   "Step Functions invokes it synchronously and retries it; a failed expiry fails the execution (an alarm) and the sweep backs it up.",
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

// newFunctions creates every function from its bootstrap asset, each with its own log group and
// its own role, which may write to that log group and nothing else yet (grantOperations adds
// what the code does). Reserved concurrency caps the api function, so that a flood of requests
// cannot take the account's concurrency, and keeps some for the sweeper and the countdown task.
func newFunctions(stack awscdk.Stack, p ControlPlaneStackProps, table awsdynamodb.Table) functions {
	made := map[string]awslambda.Function{}
	for _, spec := range functionSpecs() {
		id := spec.id
		logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
			Retention:     p.LogRetention,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("The " + spec.name + " function: its log group and the AWS operations its code performs."),
		})
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
			Resources: jsii.Strings(*logs.LogGroupArn()),
		}))
		var reserved *float64
		if n := p.reservedConcurrency(spec.name); n > 0 {
			reserved = jsii.Number(n)
		}
		fn := awslambda.NewFunction(stack, jsii.String(id+"Function"), &awslambda.FunctionProps{
			Description:                  jsii.String(spec.description),
			Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:                 p.Architecture,
			Handler:                      jsii.String("bootstrap"),
			Code:                         awslambda.Code_FromAsset(jsii.String(filepath.Join(p.AssetDir, spec.name)), nil),
			MemorySize:                   jsii.Number(p.MemoryMB),
			Timeout:                      spec.timeout,
			LoggingFormat:                awslambda.LoggingFormat_JSON,
			LogGroup:                     logs,
			Role:                         role,
			RetryAttempts:                spec.asyncRetries,
			MaxEventAge:                  spec.maxEventAge,
			ReservedConcurrentExecutions: reserved,
			Environment: &map[string]*string{
				envTableName:        table.TableName(),
				envMetricsNamespace: jsii.String(metricsNamespace(stack)),
			},
		})
		suppress(fn, false, "Serverless-LambdaDLQ", spec.invokedBy)
		suppress(fn, false, "Serverless-LambdaTracing",
			"The functions are not instrumented for X-Ray; each logs one JSON line per request, batch or run and sends its figures as CloudWatch metrics (embedded metric format), shown on the stack's dashboard.")
		if spec.name == fnSweeper {
			// On the function's event invoke config, a child.
			suppress(fn, true, "Serverless-LambdaAsyncFailureDestination", spec.invokedBy)
		}
		made[spec.name] = fn
	}
	return functions{
		api:       made[fnAPI],
		sweeper:   made[fnSweeper],
		publisher: made[fnPublisher],
		timeLimit: made[fnTimeLimit],
	}
}

// resources are what the functions' operations act on (see awsops).
type resources struct {
	table        awsdynamodb.Table
	countdown    awsstepfunctions.StateMachine
	bus          awsevents.EventBus
	adminKey     awssecretsmanager.Secret
	stack        awscdk.Stack
	executionArn *string
}

// wireFunctions gives the functions the environment that names their resources: the api, the
// sweeper and the publisher the countdown state machine, the publisher the bus, the api the
// admin key's secret (its ARN; the function reads the value). grantOperations grants the
// operations.
func wireFunctions(f functions, r resources) {
	for _, fn := range []awslambda.Function{f.api, f.sweeper, f.publisher} {
		fn.AddEnvironment(jsii.String(envStateMachineArn), r.countdown.StateMachineArn(), nil)
	}
	f.api.AddEnvironment(jsii.String(envAdminKeySecretArn), r.adminKey.SecretArn(), nil)
	f.publisher.AddEnvironment(jsii.String(envEventBusName), r.bus.EventBusName(), nil)
	for name, fn := range f.all() {
		grantOperations(fn, name, r)
	}
}

// grantOperations grants function name exactly the AWS operations its code performs, as its
// tests recorded them (internal/awsops/granted/<name>.txt): one statement per resource, with
// the actions on it.
func grantOperations(fn awslambda.Function, name string, r resources) {
	ops, err := awsops.Granted(name)
	if err != nil {
		panic("infra: " + err.Error())
	}
	byResource := map[string][]string{}
	var order []string
	for _, op := range ops {
		if byResource[op.Resource] == nil {
			order = append(order, op.Resource)
		}
		byResource[op.Resource] = append(byResource[op.Resource], op.Action)
	}
	for _, res := range order {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings(byResource[res]...),
			Resources: jsii.Strings(*r.arnOf(res)),
		}))
		if res == awsops.ResourceExecution {
			suppress(fn.Role(), true, "AwsSolutions-IAM5",
				"Countdown executions are named after sessions, unknown at deploy time; the statement is scoped to the executions of this stack's countdown state machine.",
				&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.*:\*$/g`)})
		}
	}
}

// arnOf is the ARN of an awsops resource kind.
func (r resources) arnOf(kind string) *string {
	switch {
	case kind == awsops.ResourceTable:
		return r.table.TableArn()
	case strings.HasPrefix(kind, awsops.ResourceIndexPrefix):
		return jsii.String(*r.table.TableArn() + "/" + kind)
	case kind == awsops.ResourceStateMachine:
		return r.countdown.StateMachineArn()
	case kind == awsops.ResourceExecution:
		return r.executionArn
	case kind == awsops.ResourceEventBus:
		return r.bus.EventBusArn()
	case kind == awsops.ResourceSecret:
		return r.adminKey.SecretArn()
	}
	panic(fmt.Sprintf("infra: no ARN for the awsops resource %q", kind))
}

// executionsArn is the ARN pattern of every execution of the state machine.
func executionsArn(stack awscdk.Stack, sm awsstepfunctions.StateMachine) *string {
	name := awscdk.Fn_Select(jsii.Number(6), awscdk.Fn_Split(jsii.String(":"), sm.StateMachineArn(), nil))
	return stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("states"),
		Resource:     jsii.String("execution"),
		ResourceName: jsii.String(*name + ":*"),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}
