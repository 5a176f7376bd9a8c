package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"
)

// config is what one load run does.
type config struct {
	// URL is the API of a running service ("" starts the local stack in process).
	URL string
	// AdminKey is the service's ADMIN_API_KEY (in process: made up for the run).
	AdminKey string
	// DynamoDBEndpoint and Table locate the table: in process, where the stack runs; with URL,
	// optional, for the check of the users' active_sessions counters.
	DynamoDBEndpoint string
	Table            string

	Duration   time.Duration // the timed phase
	Sessions   int           // sessions started before the timed phase
	PerUser    int           // sessions per user (max_kasms_per_user)
	Interval   time.Duration // keepalive_interval: each session sends one keepalive per interval
	Expiration time.Duration // keepalive_expiration
	// Abandon and Pause are the shares of sessions that stop sending keepalives during the run
	// (they must be expired exactly once) and that are paused and resumed once by their user.
	Abandon, Pause float64
	// Workers bounds the concurrent requests of setup and check.
	Workers int
	// AdminEvery is the time between two settings edits by the administrator.
	AdminEvery time.Duration
	// SweepEvery is the sweep interval: the stack's own sweeps in process, POST /v1/sweeps
	// with URL.
	SweepEvery time.Duration
	Seed       uint64
	// ServerLog receives the in-process stack's warnings and errors ("" discards them).
	ServerLog string
}

// parseConfig reads the flags; getenv supplies DYNAMODB_ENDPOINT, TABLE_NAME and
// ADMIN_API_KEY as defaults.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.URL, "url", "", "API of a running service on loopback, e.g. http://127.0.0.1:8080 (default: start the local stack in process)")
	fs.StringVar(&c.AdminKey, "admin-key", getenv("ADMIN_API_KEY"), "the service's ADMIN_API_KEY (with -url)")
	fs.StringVar(&c.DynamoDBEndpoint, "dynamodb", getenv("DYNAMODB_ENDPOINT"), "DynamoDB Local endpoint")
	fs.StringVar(&c.Table, "table", getenv("TABLE_NAME"), "table (in process: default load-<time>)")
	fs.DurationVar(&c.Duration, "duration", 60*time.Second, "length of the timed phase")
	fs.IntVar(&c.Sessions, "sessions", 2000, "sessions")
	fs.IntVar(&c.PerUser, "per-user", 5, "sessions per user")
	fs.DurationVar(&c.Interval, "interval", 10*time.Second, "keepalive_interval")
	fs.DurationVar(&c.Expiration, "expiration", 30*time.Second, "keepalive_expiration")
	fs.Float64Var(&c.Abandon, "abandon", 0.1, "share of sessions that stop sending keepalives")
	fs.Float64Var(&c.Pause, "pause", 0.05, "share of sessions paused and resumed by their user")
	fs.IntVar(&c.Workers, "workers", 16, "concurrent requests during setup and check")
	fs.DurationVar(&c.AdminEvery, "admin-every", 2*time.Second, "time between two settings edits")
	fs.DurationVar(&c.SweepEvery, "sweep-every", time.Second, "sweep interval")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed")
	fs.StringVar(&c.ServerLog, "server-log", ".local/load-server.log", "file for the in-process stack's warnings and errors")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	return c, c.validate()
}

func (c *config) validate() error {
	switch {
	case c.Duration < time.Second:
		return errors.New("-duration must be at least 1s")
	case c.Sessions < 1 || c.PerUser < 1:
		return errors.New("-sessions and -per-user must be at least 1")
	case c.Interval < time.Second || c.Interval%time.Second != 0:
		return errors.New("-interval must be whole seconds, at least 1s")
	case c.Expiration <= c.Interval || c.Expiration%time.Second != 0:
		return errors.New("-expiration must be whole seconds, longer than -interval")
	case c.Abandon < 0 || c.Pause < 0 || c.Abandon+c.Pause > 1:
		return errors.New("-abandon and -pause are shares between 0 and 1")
	case c.Workers < 1 || c.AdminEvery <= 0 || c.SweepEvery < time.Second:
		return errors.New("-workers, -admin-every and -sweep-every (at least 1s) must be positive")
	}
	if c.URL == "" {
		if c.DynamoDBEndpoint == "" {
			return errors.New("DYNAMODB_ENDPOINT (or -dynamodb) is required to run the stack in process; make load sets it")
		}
		if c.Table == "" {
			c.Table = fmt.Sprintf("load-%d", time.Now().Unix())
		}
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("-url %q is not an http(s) URL", c.URL)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url %q is not on loopback: the load run only targets this machine", c.URL)
	}
	if c.AdminKey == "" {
		return errors.New("-url needs the service's admin key (-admin-key or ADMIN_API_KEY)")
	}
	return nil
}
