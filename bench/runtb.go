package main

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// runTB lets the bench use internal/lambdarie, whose helpers take a testing.TB, outside a
// test: it implements the methods lambdarie calls (Helper, Fatalf, TempDir, Cleanup, Logf);
// the embedded nil testing.TB only supplies the interface's unexported method, and any other
// method would panic. Fatalf unwinds to withTB, which runs the cleanups.
type runTB struct {
	testing.TB
	cleanups []func()
}

// tbFatal is the panic value of runTB.Fatalf.
type tbFatal struct{ msg string }

func (t *runTB) Helper()             {}
func (t *runTB) Cleanup(f func())    { t.cleanups = append(t.cleanups, f) }
func (t *runTB) Logf(string, ...any) {}
func (t *runTB) Fatalf(format string, args ...any) {
	panic(tbFatal{fmt.Sprintf(format, args...)})
}
func (t *runTB) Fatal(args ...any) { panic(tbFatal{fmt.Sprint(args...)}) }

func (t *runTB) TempDir() string {
	dir, err := os.MkdirTemp("", "wspolicy-bench-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// withTB runs f with a runTB, then its cleanups (last registered first); a Fatalf in f
// becomes the returned error.
func withTB(f func(t testing.TB)) (err error) {
	t := &runTB{}
	defer func() {
		for _, c := range slices.Backward(t.cleanups) {
			c()
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			fe, ok := v.(tbFatal)
			if !ok {
				panic(v)
			}
			err = fmt.Errorf("%s", fe.msg)
		}
	}()
	f(t)
	return nil
}
