package settings_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedAccessorsCurrent fails when accessors_gen.go is not what `go generate` writes
// from the catalog now.
func TestGeneratedAccessorsCurrent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "accessors_gen.go")
	cmd := exec.Command("go", "run", "./internal/genaccessors", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genaccessors: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("accessors_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("accessors_gen.go is stale: run go generate ./internal/settings and commit it")
	}
}
