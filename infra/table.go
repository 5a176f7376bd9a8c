package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"

	"wspolicy/internal/tabledef"
)

// newTable builds the one DynamoDB table from tabledef: keys, indexes (with their projections),
// stream view, TTL attribute; on-demand, with point-in-time recovery.
func newTable(stack awscdk.Stack, p ControlPlaneStackProps) awsdynamodb.Table {
	table := awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:        attribute(tabledef.PartitionKey),
		SortKey:             attribute(tabledef.SortKey),
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Stream:              awsdynamodb.StreamViewType(tabledef.StreamView),
		TimeToLiveAttribute: jsii.String(tabledef.TTLAttribute),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: p.TableDeletionProtection,
		RemovalPolicy:      p.TableRemovalPolicy,
	})
	for _, ix := range tabledef.Indexes {
		props := &awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   attribute(ix.PartitionKey),
			SortKey:        attribute(ix.SortKey),
			ProjectionType: projectionType(ix.Projection),
		}
		if ix.Projection == tabledef.Include {
			props.NonKeyAttributes = jsii.Strings(ix.NonKeyAttributes...)
		}
		table.AddGlobalSecondaryIndex(props)
	}
	return table
}

// projectionType converts a tabledef projection to the CDK's.
func projectionType(p tabledef.Projection) awsdynamodb.ProjectionType {
	switch p {
	case tabledef.KeysOnly:
		return awsdynamodb.ProjectionType_KEYS_ONLY
	case tabledef.Include:
		return awsdynamodb.ProjectionType_INCLUDE
	}
	panic(fmt.Sprintf("infra: unsupported projection %q", p))
}

// attribute converts a tabledef key to a CDK key attribute.
func attribute(k tabledef.Key) *awsdynamodb.Attribute {
	types := map[tabledef.AttrType]awsdynamodb.AttributeType{
		tabledef.String: awsdynamodb.AttributeType_STRING,
		tabledef.Number: awsdynamodb.AttributeType_NUMBER,
	}
	t, ok := types[k.Type]
	if !ok {
		panic(fmt.Sprintf("infra: key %s has unsupported attribute type %q", k.Name, k.Type))
	}
	return &awsdynamodb.Attribute{Name: jsii.String(k.Name), Type: t}
}
