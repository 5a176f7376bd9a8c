package main

import (
	"encoding/json"
	"reflect"
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

// TestStreamFilters checks that the publisher is invoked for inserts and TTL deletions only.
func TestStreamFilters(t *testing.T) {
	mapping := resourcesOfType("AWS::Lambda::EventSourceMapping")
	if len(mapping) != 1 {
		t.Fatalf("event source mappings: got %v, want one", mapping)
	}
	criteria, _ := doc.Resources[mapping[0]].Properties["FilterCriteria"].(map[string]any)
	filters, _ := criteria["Filters"].([]any)
	var got []any
	for _, f := range filters {
		pattern, _ := f.(map[string]any)["Pattern"].(string)
		var p any
		if err := json.Unmarshal([]byte(pattern), &p); err != nil {
			t.Fatalf("filter pattern %q: %v", pattern, err)
		}
		got = append(got, p)
	}
	want := []any{
		map[string]any{"eventName": []any{"INSERT"}},
		map[string]any{
			"eventName":    []any{"REMOVE"},
			"userIdentity": map[string]any{"type": []any{"Service"}, "principalId": []any{"dynamodb.amazonaws.com"}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("filter patterns: got %s, want %s", asJSON(got), asJSON(want))
	}
}
