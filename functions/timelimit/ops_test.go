package main

import (
	"os"
	"testing"

	"wspolicy/internal/awsops/awsopstest"
)

// TestMain records the AWS operations the function's code performs in this package's tests
// (TestFixtures warns and expires sessions through the task newTask builds) and checks them
// against internal/awsops/granted/timelimit.txt, which the stack grants.
func TestMain(m *testing.M) { os.Exit(awsopstest.Main(m, "timelimit")) }
