package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/jsii-runtime-go"
)

// newEventBus builds the EventBridge bus the publisher sends session events to; the
// provisioning layer subscribes to it with its own rules.
func newEventBus(stack awscdk.Stack) awsevents.EventBus {
	return awsevents.NewEventBus(stack, jsii.String("SessionEvents"), &awsevents.EventBusProps{
		Description: jsii.String("Session events for the provisioning layer."),
	})
}
