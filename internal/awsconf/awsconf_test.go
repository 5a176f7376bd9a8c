package awsconf

import (
	"context"
	"testing"
)

// TestLoadLocal: a local endpoint needs no configuration: the region and the dummy credentials
// are set whatever the environment says.
func TestLoadLocal(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-3")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	cfg, err := Load(context.Background(), "http://localhost:8000")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Region != LocalRegion {
		t.Errorf("region: got %q, want %q", cfg.Region, LocalRegion)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "local" || creds.SecretAccessKey != "local" {
		t.Errorf("credentials: got %q/%q, %v; want local/local", creds.AccessKeyID, creds.SecretAccessKey, err)
	}
}
