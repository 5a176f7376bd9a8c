package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"
)

// progress prints timestamped lines while the bench runs.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (p *progress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := time.Since(p.start).Round(time.Second)
	fmt.Fprintf(p.w, "[%02d:%02d] %s\n", int(d.Minutes()), int(d.Seconds())%60, fmt.Sprintf(format, args...))
}

// profiler writes a CPU profile of a named part of the run into dir; with no dir it does
// nothing.
type profiler struct {
	dir string
	p   *progress
}

// start begins the profile of part and returns the function that ends it.
func (pr *profiler) start(part string) func() {
	if pr == nil || pr.dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(pr.dir, 0o755); err != nil {
		pr.p.logf("profile %s: %v", part, err)
		return func() {}
	}
	path := filepath.Join(pr.dir, part+".cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		pr.p.logf("profile %s: %v", part, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		pr.p.logf("profile %s: %v", part, err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
		pr.p.logf("profile: %s (go tool pprof -top %s)", path, path)
	}
}
