package httpapi

import (
	"os"
	"runtime/debug"
	"strconv"
)

// ProcessGCPercent is the garbage collector's target (GOGC) of a process serving the API.
const ProcessGCPercent = 400

// TuneProcess sets the garbage collector of a process serving the API (the api function, the
// local run) to run a quarter as often as Go's default, unless GOGC is set. A keepalive
// through the AWS SDK allocated about 40 KB (its middleware stack is built per call, the
// request signed and the response decoded; the keepalive now goes through ddbwire), while the
// live heap is a few MB: with the default (GOGC=100) the collector runs every hundred-odd requests and takes about a fifth of the
// process's CPU (bench/results.md, "API process CPU"). On Lambda, unless GOMEMLIMIT is set,
// the heap is also held to 3/4 of the function's memory, so the larger target never costs an
// out-of-memory.
func TuneProcess() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(ProcessGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if mb, err := strconv.ParseInt(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64); err == nil && mb > 0 {
			debug.SetMemoryLimit(mb << 20 * 3 / 4)
		}
	}
}
