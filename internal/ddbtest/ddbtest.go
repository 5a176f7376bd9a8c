// Package ddbtest gives tests a fresh table on DynamoDB Local. It uses $DYNAMODB_ENDPOINT when
// set (make test starts one instance for the whole run) and otherwise starts DynamoDB Local from
// the module's .local/dynamodb folder itself, once per test binary. It never skips: a missing
// emulator fails the test with the command that installs it.
package ddbtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
)

// Table is a fresh table on DynamoDB Local with a client that counts its requests.
type Table struct {
	Client   *dynamodb.Client
	Name     string
	Endpoint string
	calls    atomic.Int64
	mu       sync.Mutex
	ops      map[string]int64
}

// Calls reports how many requests the client has sent since the last Reset.
func (tb *Table) Calls() int64 { return tb.calls.Load() }

// CallsOf reports how many requests of operation op (such as "TransactWriteItems") the
// client has sent since the last Reset.
func (tb *Table) CallsOf(op string) int64 {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.ops[op]
}

// ResetCalls sets the request counts to zero.
func (tb *Table) ResetCalls() {
	tb.calls.Store(0)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	clear(tb.ops)
}

var tableSeq atomic.Int64

// NewTable creates a uniquely named table without a stream and deletes it when the test ends.
// Tests that read the table's stream use NewStreamTable: streams slow DynamoDB Local down for
// every later write of the run (see ddbstore.CreateTableWithoutStream).
func NewTable(t testing.TB) *Table {
	t.Helper()
	return newTable(t, ddbstore.CreateTableWithoutStream)
}

// NewStreamTable is NewTable with the table's stream on, as in production.
func NewStreamTable(t testing.TB) *Table {
	t.Helper()
	return newTable(t, ddbstore.CreateTable)
}

func newTable(t testing.TB, create func(context.Context, *dynamodb.Client, string) error) *Table {
	t.Helper()
	endpoint := Endpoint(t)
	tb := &Table{Endpoint: endpoint, ops: map[string]int64{}}
	ctx := context.Background()
	client, err := ddbkit.NewClient(ctx, endpoint, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("countCalls",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					tb.calls.Add(1)
					tb.mu.Lock()
					tb.ops[awsmiddleware.GetOperationName(ctx)]++
					tb.mu.Unlock()
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	if err != nil {
		t.Fatalf("ddbtest: client: %v", err)
	}
	tb.Client = client
	tb.Name = fmt.Sprintf("t%d_%d_%s", os.Getpid(), tableSeq.Add(1), sanitize(t.Name()))
	if len(tb.Name) > 200 {
		tb.Name = tb.Name[:200]
	}
	if err := create(ctx, client, tb.Name); err != nil {
		t.Fatalf("ddbtest: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &tb.Name})
	})
	tb.ResetCalls()
	return tb
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
}

var (
	startOnce sync.Once
	started   string
	startErr  error
)

// Endpoint returns the address of a running DynamoDB Local, starting one if needed.
func Endpoint(t testing.TB) string {
	t.Helper()
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		return ep
	}
	startOnce.Do(func() { started, startErr = start() })
	if startErr != nil {
		t.Fatalf("ddbtest: %v", startErr)
	}
	return started
}

// start launches DynamoDB Local on a free port. The child gets SIGKILL when the test binary
// exits (Pdeathsig, on a thread that stays locked for the life of the process).
func start() (string, error) {
	dir, err := emulatorDir()
	if err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: Pdeathsig follows this thread
		cmd := exec.Command("java", "-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
			"-jar", filepath.Join(dir, "DynamoDBLocal.jar"), "-inMemory", "-sharedDb", "-port", fmt.Sprint(port))
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		errc <- cmd.Start()
		if cmd.Process != nil {
			_ = cmd.Wait()
		}
		select {} // keep the thread (and so the child) alive until the process exits
	}()
	if err := <-errc; err != nil {
		return "", fmt.Errorf("start DynamoDB Local: %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return "http://" + addr, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("DynamoDB Local did not listen on %s within 30s", addr)
}

// emulatorDir finds .local/dynamodb above the working directory.
func emulatorDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			jar := filepath.Join(d, ".local", "dynamodb", "DynamoDBLocal.jar")
			if _, err := os.Stat(jar); err != nil {
				return "", fmt.Errorf("DynamoDB Local is not installed at %s: run `make dynamodb-local`", jar)
			}
			return filepath.Dir(jar), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
	}
}
