package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// Stream processing bounds: a failing batch is halved until the poison record stands alone,
// retried a bounded number of times, and then recorded in the dead-letter queue.
const (
	streamBatchSize     = 100
	streamRetryAttempts = 10
	streamMaxRecordAge  = 6 // hours
)

// newStreamSource connects the table stream to the publisher and returns the dead-letter queue
// that receives the descriptions of records the publisher could not handle.
func newStreamSource(stack awscdk.Stack, table awsdynamodb.Table, publisher awslambda.Function) awssqs.Queue {
	dlq := awssqs.NewQueue(stack, jsii.String("StreamDeadLetters"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	const why = "This queue is the stream event source mapping's on-failure destination (a dead-letter queue itself); nothing consumes it but an operator, so it needs no dead-letter queue or redrive of its own."
	suppress(dlq, false, "AwsSolutions-SQS3", why)
	suppress(dlq, false, "Serverless-SQSRedrivePolicy", why)
	publisher.AddEventSource(awslambdaeventsources.NewDynamoEventSource(table, &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(streamBatchSize),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(streamRetryAttempts),
		MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(streamMaxRecordAge)),
		ReportBatchItemFailures: jsii.Bool(true),
		OnFailure:               awslambdaeventsources.NewSqsDlq(dlq),
		Filters:                 streamFilters(),
	}))
	suppress(publisher.Role(), true, "AwsSolutions-IAM5",
		"dynamodb:ListStreams, which the stream event source needs, has no resource-level permissions: Resource \"*\" is the only form IAM accepts, and it reveals stream ARNs, not data.",
		"Resource::*")
	return dlq
}

// streamFilters pass the publisher only the records it acts on: new items (the outbox events
// are inserts) and deletions by DynamoDB's TTL process. Updates — a keepalive is one — and
// deletions by requests never invoke it, so the hot path costs no publisher invocations.
func streamFilters() *[]*map[string]any {
	return &[]*map[string]any{
		awslambda.FilterCriteria_Filter(&map[string]any{
			"eventName": awslambda.FilterRule_IsEqual(jsii.String("INSERT")),
		}),
		awslambda.FilterCriteria_Filter(&map[string]any{
			"eventName": awslambda.FilterRule_IsEqual(jsii.String("REMOVE")),
			"userIdentity": map[string]any{
				"type":        awslambda.FilterRule_IsEqual(jsii.String("Service")),
				"principalId": awslambda.FilterRule_IsEqual(jsii.String("dynamodb.amazonaws.com")),
			},
		}),
	}
}
