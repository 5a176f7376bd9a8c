package ddbstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/tabledef"
)

// CreateTableInput builds the table definition from tabledef, the same source the CDK stack uses.
func CreateTableInput(name string) *dynamodb.CreateTableInput {
	attrs := map[string]ddbtypes.ScalarAttributeType{}
	add := func(k tabledef.Key) { attrs[k.Name] = ddbtypes.ScalarAttributeType(k.Type) }
	add(tabledef.PartitionKey)
	add(tabledef.SortKey)
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String(tabledef.PartitionKey.Name), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(tabledef.SortKey.Name), KeyType: ddbtypes.KeyTypeRange},
		},
		StreamSpecification: &ddbtypes.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: ddbtypes.StreamViewType(tabledef.StreamView),
		},
	}
	for _, ix := range tabledef.Indexes {
		add(ix.PartitionKey)
		add(ix.SortKey)
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name),
			KeySchema: []ddbtypes.KeySchemaElement{
				{AttributeName: aws.String(ix.PartitionKey.Name), KeyType: ddbtypes.KeyTypeHash},
				{AttributeName: aws.String(ix.SortKey.Name), KeyType: ddbtypes.KeyTypeRange},
			},
			Projection: projection(ix),
		})
	}
	for name, typ := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(name), AttributeType: typ,
		})
	}
	return in
}

// projection is an index's projection as the SDK spells it.
func projection(ix tabledef.Index) *ddbtypes.Projection {
	p := &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(ix.Projection)}
	if ix.Projection == tabledef.Include {
		p.NonKeyAttributes = append([]string(nil), ix.NonKeyAttributes...)
	}
	return p
}

// CreateTable creates the table (if it does not exist yet) and waits until it is active.
func CreateTable(ctx context.Context, db *dynamodb.Client, name string) error {
	return createTable(ctx, db, CreateTableInput(name))
}

// CreateTableWithoutStream is CreateTable with the table's stream off, for benchmarks and
// tests that do not read the stream. DynamoDB Local looks its streams up on every write, and
// that lookup grows with every stream record written before, in any table (jstack:
// SQLiteDBAccessJob.getStreamDescription on each write; a two-item transaction went from
// 2.5 ms to 6-9 ms after 8,000 updates of another table, and stayed at 1-1.5 ms with streams
// off), so with streams on everywhere the tests of one run slow each other down, which
// DynamoDB does not do.
func CreateTableWithoutStream(ctx context.Context, db *dynamodb.Client, name string) error {
	in := CreateTableInput(name)
	in.StreamSpecification = nil
	return createTable(ctx, db, in)
}

func createTable(ctx context.Context, db *dynamodb.Client, in *dynamodb.CreateTableInput) error {
	name := aws.ToString(in.TableName)
	_, err := db.CreateTable(ctx, in)
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{
			AttributeName: aws.String(tabledef.TTLAttribute), Enabled: aws.Bool(true),
		},
	})
	if err != nil && !isTTLAlreadyOn(err) {
		return fmt.Errorf("enable ttl on %s: %w", name, err)
	}
	return nil
}

func isTTLAlreadyOn(err error) bool {
	var ve interface{ ErrorMessage() string }
	return errors.As(err, &ve) && strings.Contains(strings.ToLower(ve.ErrorMessage()), "already enabled")
}
