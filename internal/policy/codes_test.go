package policy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoLiteralErrorCodes keeps every API error code in codes.go: production code builds
// errors with the named constants, never with a string literal.
func TestNoLiteralErrorCodes(t *testing.T) {
	literal := regexp.MustCompile(`(Errorf\(\s*policy\.Kind\w+,\s*"|FieldErrorf\([^,]+,\s*"|Code:\s*")`)
	for _, root := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(src), "\n") {
				if literal.MatchString(line) {
					t.Errorf("%s:%d: error code as a string literal; add it to internal/policy/codes.go: %s", path, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
