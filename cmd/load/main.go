// Command load is `make load`: a bounded load run on loopback. It starts the local stack in
// process (the API on 127.0.0.1, sweeps every second, the stream's event log) against the
// DynamoDB Local that DYNAMODB_ENDPOINT names — or drives a running `make run` given -url —
// creates groups, users and keys, starts thousands of sessions that send keepalives at their
// interval while administrators edit settings and sweeps run, for a fixed time, and stops by
// itself. It prints throughput and p50/p99 latency per route, the errors (there must be none)
// and a final consistency check: every session in the state its own history says. The exit
// status is 1 when anything failed. docs/reliability.md has the figures of the last run.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	if !res.ok() {
		os.Exit(1)
	}
}
