package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
)

// nagFindings are the unsuppressed cdk-nag errors and warnings on the default test stack, as
// "level rule path" lines, collected once in TestMain.
var nagFindings []string

// collectNagFindings reads the cdk-nag annotations of the stack (the packs run as aspects when
// the stack is synthesized).
func collectNagFindings(stack awscdk.Stack) []string {
	ann := assertions.Annotations_FromStack(stack)
	var out []string
	anyMsg := assertions.Match_AnyValue()
	for level, find := range map[string]func(*string, any) []string{
		"error":   func(p *string, m any) []string { return messages(ann.FindError(p, m)) },
		"warning": func(p *string, m any) []string { return messages(ann.FindWarning(p, m)) },
	} {
		for _, m := range find(jsii.String("*"), anyMsg) {
			out = append(out, level+" "+m)
		}
	}
	sort.Strings(out)
	return out
}

func TestCdkNag(t *testing.T) {
	counts := map[string]int{}
	for _, f := range nagFindings {
		level, rest, _ := strings.Cut(f, " ")
		pack, _, _ := strings.Cut(rest, "-")
		counts[pack+" "+level]++
	}
	t.Logf("cdk-nag unsuppressed findings: %v", counts)
	for _, f := range nagFindings {
		t.Errorf("cdk-nag: %s", f)
	}
}

// messages turns synthesis messages into "rule: message (path)" lines. The assertions API
// (FindError/FindWarning) still returns the deprecated cxapi type; there is no other.
//
//lint:ignore SA1019 the assertions API returns this type
func messages(list *[]*cxapi.SynthesisMessage) []string {
	if list == nil {
		return nil
	}
	var out []string
	for _, m := range *list {
		//lint:ignore SA1019 the assertions API returns this type
		entry := m.Entry
		data := fmt.Sprint(entry.Data)
		if s, ok := entry.Data.(string); ok {
			data = s
		}
		if i := strings.Index(data, "\n"); i > 0 {
			data = data[:i]
		}
		//lint:ignore SA1019 the assertions API returns this type
		id := m.Id
		out = append(out, fmt.Sprintf("%s (%s)", data, *id))
	}
	return out
}
