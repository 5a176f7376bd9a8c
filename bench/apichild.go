package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/httpapi"
	"wspolicy/internal/localrun"
	"wspolicy/internal/policy"
)

// The keepalive part runs the API it measures in a process of its own (the bench's executable
// started again with apiChildEnv set), so that the CPU time the kernel accounts to that process
// is the API's alone: the load generator, the raw and in-process runs stay in the bench's
// process. The child serves until its standard input closes; SIGUSR1 starts a CPU profile into
// the file named by apiChildProfileEnv and SIGUSR2 stops it, so that the profile covers the
// measured slices only.
const (
	apiChildEnv        = "WSPOLICY_BENCH_API_CHILD"
	apiChildProfileEnv = "WSPOLICY_BENCH_API_PROFILE"
)

// apiChildConfig is what the parent passes to the child (in apiChildEnv, as key=value;...).
type apiChildConfig struct {
	endpoint, table string
	conns           int
	keyCacheOff     bool
	// floor serves floorHandler instead of the API; sdk sends the keepalive's UpdateItem
	// through the SDK instead of ddbwire (the comparison).
	floor, sdk bool
	// floorSync is the floor with a synchronous client (floorHandler's sync).
	floorSync bool
}

func (c apiChildConfig) encode() string {
	return fmt.Sprintf("endpoint=%s;table=%s;conns=%d;nocache=%t;floor=%t;sdk=%t;floorsync=%t", c.endpoint, c.table, c.conns, c.keyCacheOff, c.floor, c.sdk, c.floorSync)
}

func decodeAPIChildConfig(s string) (apiChildConfig, error) {
	var c apiChildConfig
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "endpoint":
			c.endpoint = v
		case "table":
			c.table = v
		case "conns":
			n, err := strconv.Atoi(v)
			if err != nil {
				return c, err
			}
			c.conns = n
		case "nocache":
			c.keyCacheOff = v == "true"
		case "floor":
			c.floor = v == "true"
		case "sdk":
			c.sdk = v == "true"
		case "floorsync":
			c.floorSync = v == "true"
		}
	}
	if c.endpoint == "" || c.table == "" || c.conns <= 0 {
		return c, fmt.Errorf("incomplete child configuration %q", s)
	}
	return c, nil
}

// serveAPIChild is the child's main: the API wired as the local run and the api function wire
// it (ddbstore.NewClient as is; JSON request log, to io.Discard), on 127.0.0.1, its URL on the
// first line of standard output.
func serveAPIChild(spec string) error {
	cfg, err := decodeAPIChildConfig(spec)
	if err != nil {
		return err
	}
	httpapi.TuneProcess() // as the api function and the local run do
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	counter := &ddbCounter{}
	// The client as the service builds it (ddbkit.NewClient), with the request counter only,
	// on its HTTP client: the keepalive's request is built by ddbwire, as in the api function.
	db, err := ddbkit.NewClient(ctx, cfg.endpoint, func(o *dynamodb.Options) {
		o.HTTPClient = countingHTTP{next: o.HTTPClient, c: counter}
	})
	if err != nil {
		return err
	}
	wire, err := ddbstore.NewKeepaliveWire(ctx, db)
	if err != nil {
		return err
	}
	clock := policy.SystemClock{}
	var opts []ddbstore.Option
	if !cfg.sdk {
		opts = append(opts, ddbstore.WithKeepaliveWire(wire))
	}
	tbl := ddbstore.Open(db, cfg.table, append(opts, ddbstore.WithClock(clock))...)
	store := tbl.Directory()
	svc := newSessionService(tbl.Sessions(), store, clock)
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	hc := httpapi.Config{Directory: store, Sessions: svc, Clock: clock, AdminKey: benchAdminKey, Logger: logger}
	if cfg.keyCacheOff {
		hc.KeyCacheTTL = -1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println("http://" + l.Addr().String())
	prof := &signalProfile{path: os.Getenv(apiChildProfileEnv)}
	go prof.listen()
	defer prof.stop()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	api := httpapi.New(hc)
	if cfg.floor || cfg.floorSync {
		api = newFloorHandler(cfg.endpoint, cfg.table, cfg.conns, cfg.floorSync)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == apiChildCountsPath {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(counter.snapshot())
			return
		}
		api.ServeHTTP(w, r)
	})
	return localrun.HTTPServer(l, h, logger).Run(ctx)
}

// apiChildCountsPath answers the DynamoDB requests the child has sent so far (a ddbCount).
const apiChildCountsPath = "/__bench/ddb-requests"

// counts reads the child's DynamoDB request counts.
func (c *apiChild) counts(ctx context.Context, e *env) (ddbCount, error) {
	var n ddbCount
	err := e.callAt(ctx, c.url, http.MethodGet, apiChildCountsPath, "", nil, &n)
	return n, err
}

// signalProfile starts a CPU profile into path on SIGUSR1 and stops it on SIGUSR2 (or when the
// process ends).
type signalProfile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (p *signalProfile) listen() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	for s := range sigs {
		if s == syscall.SIGUSR2 {
			p.stop()
			continue
		}
		p.mu.Lock()
		if p.f == nil && p.path != "" {
			if f, err := os.Create(p.path); err == nil {
				if pprof.StartCPUProfile(f) == nil {
					p.f = f
				} else {
					_ = f.Close()
				}
			}
		}
		p.mu.Unlock()
	}
}

func (p *signalProfile) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		pprof.StopCPUProfile()
		_ = p.f.Close()
		p.f = nil
	}
}

// apiChild is a running child API process.
type apiChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
}

// startAPIChild starts the API in a process of its own; profile names the CPU profile file
// that SIGUSR1/SIGUSR2 start and stop ("" for none).
func startAPIChild(cfg apiChildConfig, profile string) (*apiChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), apiChildEnv+"="+cfg.encode(), apiChildProfileEnv+"="+profile)
	if v := os.Getenv("BENCH_API_GOMAXPROCS"); v != "" {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+v)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &apiChild{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("API child: %w", err)
	}
	c.url = strings.TrimSpace(line)
	return c, nil
}

func (c *apiChild) signal(s os.Signal) { _ = c.cmd.Process.Signal(s) }

// cpu is the CPU time the kernel has accounted to the child so far: user and system.
func (c *apiChild) cpu() (cpuTime, error) { return processCPU(c.cmd.Process.Pid) }

// cpuTime is a process's CPU time, user and system (kernel: system calls, the network stack).
type cpuTime struct{ user, sys time.Duration }

func (t cpuTime) total() time.Duration { return t.user + t.sys }

func (t cpuTime) sub(u cpuTime) cpuTime { return cpuTime{t.user - u.user, t.sys - u.sys} }

func (t cpuTime) add(u cpuTime) cpuTime { return cpuTime{t.user + u.user, t.sys + u.sys} }

// stop closes the child's standard input and waits for it to exit.
func (c *apiChild) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat (100 on Linux).
const clockTicks = 100

// processCPU reads utime + stime of process pid from /proc/<pid>/stat: the kernel's own
// accounting of the process (all its threads), what getrusage(RUSAGE_SELF) reports inside it.
func processCPU(pid int) (cpuTime, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTime{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: split after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTime{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return cpuTime{}, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return cpuTime{}, err
	}
	return cpuTime{user: time.Duration(ut) * time.Second / clockTicks, sys: time.Duration(st) * time.Second / clockTicks}, nil
}

// keepaliveProfileName is the API process's CPU profile over the keepalive slices, beside
// results.md.
const keepaliveProfileName = "keepalive-api.cpu.pprof"

// profileTop lists the heaviest functions of a CPU profile by cumulative time, as
// `go tool pprof -top -cum` prints them (nil when the go tool is not at hand).
func profileTop(path string) []string {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", path).Output()
	if err != nil {
		return nil
	}
	var lines []string
	started := false
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "flat%") {
			started = true
			continue
		}
		if started && strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}
