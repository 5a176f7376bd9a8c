package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"wspolicy/internal/tabledef"
)

// keySchema is the template form of a partition and sort key.
func keySchema(pk, sk tabledef.Key) []any {
	return []any{
		map[string]any{"AttributeName": pk.Name, "KeyType": "HASH"},
		map[string]any{"AttributeName": sk.Name, "KeyType": "RANGE"},
	}
}

func TestTable(t *testing.T) {
	noPanic(t, "one table", func() {
		tmpl.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1))
	})

	// Every key attribute from tabledef, with its type.
	attrs := []any{}
	seen := map[string]bool{}
	addAttr := func(k tabledef.Key) {
		if !seen[k.Name] {
			seen[k.Name] = true
			attrs = append(attrs, map[string]any{"AttributeName": k.Name, "AttributeType": string(k.Type)})
		}
	}
	addAttr(tabledef.PartitionKey)
	addAttr(tabledef.SortKey)
	indexes := []any{}
	for _, ix := range tabledef.Indexes {
		addAttr(ix.PartitionKey)
		addAttr(ix.SortKey)
		// Each index projects what tabledef says (keys only, or the listed attributes), never
		// ALL: a keepalive must not write to any index.
		projection := map[string]any{"ProjectionType": string(ix.Projection)}
		if ix.Projection == tabledef.Include {
			nonKey := []any{}
			for _, a := range ix.NonKeyAttributes {
				nonKey = append(nonKey, a)
			}
			projection["NonKeyAttributes"] = assertions.Match_ArrayEquals(&nonKey)
		}
		indexes = append(indexes, map[string]any{
			"IndexName":  ix.Name,
			"KeySchema":  keySchema(ix.PartitionKey, ix.SortKey),
			"Projection": projection,
		})
	}

	tests := []struct {
		name  string
		props map[string]any
	}{
		{name: "keys", props: map[string]any{"KeySchema": keySchema(tabledef.PartitionKey, tabledef.SortKey)}},
		{name: "attribute definitions", props: map[string]any{
			"AttributeDefinitions": assertions.Match_ArrayEquals(&attrs),
		}},
		{name: "indexes", props: map[string]any{
			"GlobalSecondaryIndexes": assertions.Match_ArrayEquals(&indexes),
		}},
		{name: "on-demand", props: map[string]any{
			"BillingMode":           "PAY_PER_REQUEST",
			"ProvisionedThroughput": assertions.Match_Absent(),
		}},
		{name: "stream", props: map[string]any{
			"StreamSpecification": map[string]any{"StreamViewType": tabledef.StreamView},
		}},
		{name: "ttl", props: map[string]any{
			"TimeToLiveSpecification": map[string]any{"AttributeName": tabledef.TTLAttribute, "Enabled": true},
		}},
		{name: "point-in-time recovery", props: map[string]any{
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		}},
		{name: "deletion protection by default", props: map[string]any{"DeletionProtectionEnabled": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noPanic(t, "table properties", func() {
				tmpl.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), tc.props)
			})
		})
	}
}

func TestTableRemovalPolicy(t *testing.T) {
	tests := []struct {
		name       string
		template   assertions.Template
		policy     string
		protection bool
	}{
		{name: "default retains and protects", template: tmpl, policy: "Retain", protection: true},
		{name: "props destroy without protection", template: variantTmpl, policy: "Delete", protection: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noPanic(t, "table removal", func() {
				tc.template.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
					"DeletionPolicy":      tc.policy,
					"UpdateReplacePolicy": tc.policy,
					"Properties":          map[string]any{"DeletionProtectionEnabled": tc.protection},
				})
			})
		})
	}
}
