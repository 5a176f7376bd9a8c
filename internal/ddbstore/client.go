// Package ddbstore is the only package that knows the table's keys, records and transactions.
// It turns DynamoDB's conditional-check failures and cancelled transactions into policy errors.
package ddbstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// NewClient builds a DynamoDB client from the default AWS configuration. A non-empty endpoint
// (DynamoDB Local) overrides the service address and, when no credentials are configured,
// uses static dummy ones with region us-east-1.
func NewClient(ctx context.Context, endpoint string, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	var loadOpts []func(*config.LoadOptions) error
	if endpoint != "" {
		loadOpts = append(loadOpts,
			config.WithRegion("us-east-1"),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
		)
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			// DynamoDB Local's CRC32 headers do not always match what the SDK computes for
			// cancelled transactions; the SDK then logs a spurious warning on every one.
			o.DisableValidateResponseChecksum = true
		}
		for _, f := range optFns {
			f(o)
		}
	}), nil
}
