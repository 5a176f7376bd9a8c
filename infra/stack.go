package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
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
	// LogRetention is how long function, access and state machine logs are kept; default one
	// month.
	LogRetention awslogs.RetentionDays
	// ThrottleRate and ThrottleBurst are the HTTP API stage's steady request rate (per second)
	// and burst: requests beyond them get API Gateway's 429 without reaching the api function.
	// Defaults DefaultThrottleRate and DefaultThrottleBurst.
	ThrottleRate, ThrottleBurst float64
	// APIConcurrency, SweeperConcurrency and TimeLimitConcurrency are the functions' reserved
	// concurrency: the api function may run at most APIConcurrency instances (a flood of
	// requests cannot take the account's concurrency), and the sweeper and the countdown task
	// always have theirs. 0 takes the default (DefaultAPIConcurrency, 1, DefaultTimeLimitConcurrency);
	// a negative value reserves nothing (for accounts whose concurrency quota is too small:
	// Lambda keeps 100 unreserved).
	APIConcurrency, SweeperConcurrency, TimeLimitConcurrency float64
	// OIDC names an external OpenID Connect provider people sign in with; nil (the default)
	// creates a Cognito user pool as the issuer (docs/sign-in.md).
	OIDC *OIDCProps
	// CognitoDomainPrefix is the prefix of the user pool's hosted sign-in domain
	// (<prefix>.auth.<region>.amazoncognito.com); default <stack name>-<account id>.
	CognitoDomainPrefix string
}

// Defaults of the edge limits.
const (
	DefaultThrottleRate         = 50
	DefaultThrottleBurst        = 100
	DefaultAPIConcurrency       = 20
	DefaultTimeLimitConcurrency = 5
)

// reservedConcurrency is function name's reserved concurrency, 0 for none.
func (p ControlPlaneStackProps) reservedConcurrency(name string) float64 {
	v := map[string]float64{fnAPI: p.APIConcurrency, fnSweeper: p.SweeperConcurrency, fnTimeLimit: p.TimeLimitConcurrency}[name]
	return max(v, 0)
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
	if p.ThrottleRate <= 0 {
		p.ThrottleRate = DefaultThrottleRate
	}
	if p.ThrottleBurst <= 0 {
		p.ThrottleBurst = DefaultThrottleBurst
	}
	for _, c := range []struct {
		v   *float64
		def float64
	}{{&p.APIConcurrency, DefaultAPIConcurrency}, {&p.SweeperConcurrency, 1}, {&p.TimeLimitConcurrency, DefaultTimeLimitConcurrency}} {
		if *c.v == 0 {
			*c.v = c.def
		}
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

	// The bootstrap admin key: generated into Secrets Manager at the first deploy; the api
	// function reads it once per cold start. Nothing secret is in the template, an output or
	// an environment variable.
	adminKey := awssecretsmanager.NewSecret(stack, jsii.String("AdminApiKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Bootstrap admin API key of the workspace policy control plane (Authorization: Bearer <value>)."),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(48),
			ExcludePunctuation: jsii.Bool(true),
		},
	})
	suppress(adminKey, false, "AwsSolutions-SMG4",
		"Rotation is manual (README: put a new value, then new api instances read it); an automatic rotation would need a rotation function that also knows every client holding the key.")

	table := newTable(stack, p)
	bus := newEventBus(stack)
	fns := newFunctions(stack, p, table)
	countdown := newCountdown(stack, p, fns.timeLimit)
	wireFunctions(fns, resources{table: table, countdown: countdown, bus: bus, adminKey: adminKey, stack: stack,
		executionArn: executionsArn(stack, countdown)})
	dlq := newStreamSource(stack, table, fns.publisher)
	api, si := newHTTPAPI(stack, p, fns.api)
	newSweepSchedule(stack, fns.sweeper)
	alarmTopic := newAlarms(stack, fns, dlq, countdown, api)
	newDashboard(stack, fns, dlq, countdown, api)

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
	output("AdminKeySecretArn", adminKey.SecretArn(), "Secrets Manager secret holding the bootstrap admin key (read it with aws secretsmanager get-secret-value).")
	output("OidcIssuer", si.issuer, "Issuer of the ID tokens people sign in with (OIDC_ISSUER).")
	output("ConsoleClientId", si.clientID, "The console's public OIDC client (OIDC_CLIENT_ID), the audience of the JWT authorizer.")
	if si.pool != nil {
		output("UserPoolId", si.pool.UserPoolId(), "Cognito user pool people sign in with; add administrators to the group "+CognitoAdminGroup+".")
		output("SignInDomain", si.domain.BaseUrl(nil), "Hosted sign-in domain of the user pool.")
	}
	output("DashboardName", jsii.String(dashboardName(stack)), "CloudWatch dashboard of the control plane.")
	return stack
}
