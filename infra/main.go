// Command infra is the AWS CDK app that defines the whole control plane as one CloudFormation
// stack. cdk.json runs it (`go run ./infra`); `make synth`, `make deploy` and
// `make localstack-deploy` drive it through the CDK CLI.
//
// It reads CDK context (-c key=value) and environment variables:
//
//	stackName           stack name (default WsPolicy)
//	assetDir            folder of <function>/bootstrap (env ASSET_DIR; default build/lambda)
//	architecture        arm64 or x86_64, the bootstrap binaries' architecture (default arm64)
//	memoryMB            each function's memory size (default 256)
//	tableRemovalPolicy  retain or destroy (default retain)
//	deletionProtection  true or false, the table's deletion protection (default true)
//	throttleRate        the API stage's steady requests per second (default 50)
//	throttleBurst       the API stage's burst (default 100)
//	apiConcurrency      the api function's reserved concurrency, its cap (default 20)
//	reservedConcurrency false: reserve no concurrency for any function (accounts whose Lambda
//	                    concurrency quota is under 100 + the reservations, LocalStack)
//	oidcIssuer          an external OpenID provider's issuer: trusted instead of the stack's
//	                    Cognito user pool (with oidcClientId; docs/sign-in.md)
//	oidcClientId        the console's public client at that provider (the tokens' audience)
//	oidcGroupsClaim, oidcUsernameClaim, oidcAdminGroup, oidcScopes, oidcProviderOrigins
//	                    the provider's claims, administrators' group, scopes and extra origins
//	cognitoDomainPrefix prefix of the user pool's hosted sign-in domain (default
//	                    <stack name>-<account id>)
//
// cdk-nag's AwsSolutions and Serverless packs check the app as it synthesizes: a finding
// that is neither fixed nor suppressed with its reason (next to its construct) fails the synth.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// DefaultStackName is the stack's name when the context gives none.
const DefaultStackName = "WsPolicy"

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		jsii.Close()
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	cfg := appConfig{get: func(key string) string {
		if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok {
			return v
		}
		return ""
	}}
	name, props, err := cfg.stack(os.Getenv)
	if err != nil {
		return err
	}
	if err := checkAssets(props.AssetDir); err != nil {
		return err
	}
	NewControlPlaneStack(app, name, props)
	applyNagPacks(app)
	app.Synth(nil)
	return nil
}

// appConfig turns CDK context values into the stack's name and props.
type appConfig struct {
	get func(key string) string
}

// stack returns the stack name and props; getenv supplies ASSET_DIR.
func (c appConfig) stack(getenv func(string) string) (string, *ControlPlaneStackProps, error) {
	name := firstNonEmpty(c.get("stackName"), DefaultStackName)
	props := &ControlPlaneStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("Workspace policy control plane: settings, sessions, usage and time limits."),
		},
		AssetDir: firstNonEmpty(c.get("assetDir"), getenv("ASSET_DIR"), "build/lambda"),
	}
	switch arch := c.get("architecture"); arch {
	case "", "arm64":
		props.Architecture = awslambda.Architecture_ARM_64()
	case "x86_64", "amd64":
		props.Architecture = awslambda.Architecture_X86_64()
	default:
		return "", nil, fmt.Errorf("context architecture: got %q, want arm64 or x86_64", arch)
	}
	if v := c.get("memoryMB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil || mb < 128 || mb > 10240 {
			return "", nil, fmt.Errorf("context memoryMB: got %q, want an integer from 128 to 10240", v)
		}
		props.MemoryMB = float64(mb)
	}
	switch v := c.get("tableRemovalPolicy"); v {
	case "", "retain":
		props.TableRemovalPolicy = awscdk.RemovalPolicy_RETAIN
	case "destroy":
		props.TableRemovalPolicy = awscdk.RemovalPolicy_DESTROY
	default:
		return "", nil, fmt.Errorf("context tableRemovalPolicy: got %q, want retain or destroy", v)
	}
	if v := c.get("deletionProtection"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return "", nil, fmt.Errorf("context deletionProtection: got %q, want true or false", v)
		}
		props.TableDeletionProtection = jsii.Bool(on)
	}
	for _, n := range []struct {
		key string
		to  *float64
		min float64
	}{{"throttleRate", &props.ThrottleRate, 1}, {"throttleBurst", &props.ThrottleBurst, 1}, {"apiConcurrency", &props.APIConcurrency, 1}} {
		v := c.get(n.key)
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < n.min || f > 100000 {
			return "", nil, fmt.Errorf("context %s: got %q, want a number from %v to 100000", n.key, v, n.min)
		}
		*n.to = f
	}
	if v := c.get("reservedConcurrency"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return "", nil, fmt.Errorf("context reservedConcurrency: got %q, want true or false", v)
		}
		if !on {
			props.APIConcurrency, props.SweeperConcurrency, props.TimeLimitConcurrency = -1, -1, -1
		}
	}
	props.CognitoDomainPrefix = c.get("cognitoDomainPrefix")
	if iss, client := c.get("oidcIssuer"), c.get("oidcClientId"); iss != "" || client != "" {
		if !strings.HasPrefix(iss, "https://") || client == "" {
			return "", nil, fmt.Errorf("context oidcIssuer and oidcClientId: got %q and %q, want an https issuer URL and its client id together", iss, client)
		}
		props.OIDC = &OIDCProps{Issuer: iss, ClientID: client, GroupsClaim: c.get("oidcGroupsClaim"),
			UsernameClaim: c.get("oidcUsernameClaim"), AdminGroup: c.get("oidcAdminGroup"), Scopes: c.get("oidcScopes"),
			ProviderOrigins: strings.FieldsFunc(c.get("oidcProviderOrigins"), func(r rune) bool { return r == ',' || r == ' ' })}
	}
	return name, props, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
