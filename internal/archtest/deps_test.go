package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServicesImportNoAWSSDK: the services and the HTTP layer talk to AWS only through small
// interfaces that adapter packages (ddbstore, sfntimer, publish/ebsink, publish/streams, the
// functions/ mains) implement, so none of them may depend on an aws-sdk-go-v2 package, directly or not.
func TestServicesImportNoAWSSDK(t *testing.T) {
	services := []string{"wspolicy/internal/sessions", "wspolicy/internal/sweep", "wspolicy/internal/httpapi", "wspolicy/internal/directory",
		"wspolicy/internal/countdown", "wspolicy/internal/lifecycle", "wspolicy/internal/settings", "wspolicy/internal/policy", "wspolicy/internal/publish"}
	out, err := exec.Command("go", append([]string{"list", "-deps"}, services...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/aws/aws-sdk-go-v2") {
			t.Errorf("a service depends on %s", pkg)
		}
	}
}
