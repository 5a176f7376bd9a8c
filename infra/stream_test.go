package main

import (
	"testing"

	"github.com/aws/jsii-runtime-go"
)

func TestStreamEventSource(t *testing.T) {
	table := logicalID(t, "AWS::DynamoDB::Table", "Table")
	dlq := logicalID(t, "AWS::SQS::Queue", "StreamDeadLetters")
	publisher := logicalID(t, "AWS::Lambda::Function", "PublisherFunction")
	noPanic(t, "one event source mapping", func() {
		tmpl.ResourceCountIs(jsii.String("AWS::Lambda::EventSourceMapping"), jsii.Number(1))
	})
	noPanic(t, "publisher reads the table stream, bisecting, bounded, with a dead-letter queue", func() {
		tmpl.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
			"EventSourceArn":             getAtt(table, "StreamArn"),
			"FunctionName":               ref(publisher),
			"StartingPosition":           "TRIM_HORIZON",
			"BisectBatchOnFunctionError": true,
			"MaximumRetryAttempts":       streamRetryAttempts,
			"MaximumRecordAgeInSeconds":  streamMaxRecordAge * 3600,
			"FunctionResponseTypes":      []any{"ReportBatchItemFailures"},
			"DestinationConfig": map[string]any{
				"OnFailure": map[string]any{"Destination": getAtt(dlq, "Arn")},
			},
		})
	})
	noPanic(t, "the dead-letter queue keeps records 14 days", func() {
		tmpl.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]any{
			"MessageRetentionPeriod": 14 * 24 * 3600,
			"SqsManagedSseEnabled":   true,
		})
	})
}
