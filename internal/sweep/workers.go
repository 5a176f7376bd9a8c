package sweep

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseWorkers reads the value of SWEEP_WORKERS: empty is 0 (DefaultWorkers), otherwise a
// whole number from 1 to MaxWorkers.
func ParseWorkers(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxWorkers {
		return 0, fmt.Errorf("SWEEP_WORKERS must be a whole number from 1 to %d, got %q", MaxWorkers, v)
	}
	return n, nil
}
