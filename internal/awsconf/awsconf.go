// Package awsconf loads the AWS configuration the service's SDK clients are built from, the same
// way for every client (DynamoDB in ddbstore, DynamoDB Streams in publish/streams).
package awsconf

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// LocalRegion is the region of a local run (DynamoDB Local takes any).
const LocalRegion = "us-east-1"

// Load loads the default AWS configuration. A non-empty endpoint (DynamoDB Local) means a local
// run: region LocalRegion and static dummy credentials, so that nothing needs configuring. The
// caller sets the endpoint itself on its client's options (BaseEndpoint).
func Load(ctx context.Context, endpoint string) (aws.Config, error) {
	var loadOpts []func(*config.LoadOptions) error
	if endpoint != "" {
		loadOpts = append(loadOpts,
			config.WithRegion(LocalRegion),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
		)
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	return cfg, nil
}
