package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// applyNagPacks runs cdk-nag's AwsSolutions and Serverless rule packs over every construct of
// scope when it is synthesized: their findings become error and warning annotations (an error
// fails `cdk synth`), and the infra tests require none. Each deliberate exception is a
// suppression next to the construct it concerns, with its reason (see suppress).
func applyNagPacks(scope constructs.IConstruct) {
	props := &cdknag.NagPackProps{Reports: jsii.Bool(false)}
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(props), nil)
	awscdk.Aspects_Of(scope).Add(cdknag.NewServerlessChecks(props), nil)
}

// suppress records why a cdk-nag rule does not apply to construct (and, with children, to
// the constructs it creates itself, such as a function's role and policy). appliesTo narrows an
// IAM rule to the listed findings: strings such as "Resource::<Table.Arn>/index/*", or
// *cdknag.RegexAppliesTo.
func suppress(construct constructs.IConstruct, children bool, id, reason string, appliesTo ...any) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		s.AppliesTo = &appliesTo
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(children))
}
