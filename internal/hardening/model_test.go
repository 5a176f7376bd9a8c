package hardening

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The session model: a sequential specification of one session's state machine, as
// /work/shared/spec/behaviour.md and docs/design-sessions.md state it, for porcupine. Every
// operation carries the clock's time it ran at (the tests hold the clock still while
// operations overlap), so expiry is part of the model.

// opKind is an operation on a session.
type opKind string

// The operations the model knows.
const (
	opStart     opKind = "start"
	opKeepalive opKind = "keepalive"
	opIdle      opKind = "idle_keepalive" // a keepalive reporting an idle time past idle_disconnect
	opGet       opKind = "get"
	opPause     opKind = "pause"
	opStop      opKind = "stop"
	opResume    opKind = "resume"
	opDelete    opKind = "delete"
	opSweep     opKind = "sweep"
)

// sessInput is an operation's input.
type sessInput struct {
	Session string
	Op      opKind
	Now     int64 // epoch ms of the clock while the operation ran
	// Start only: the session's kind and lifetime settings.
	Container bool
	Action    string // keepalive_expiration_action in force
	KaMs      int64  // keepalive_expiration in ms
}

// sessOutput is what an operation answered.
type sessOutput struct {
	// Code is the HTTP status; 503 means the outcome is unknown (the operation may or may not
	// have happened).
	Code       int
	Status     string // the session's status in a 2xx answer
	ExpiresMs  int64
	Connected  bool
	Disconnect bool // keepalive answers
	// Sweep is what a sweep reported doing to the session: "" (nothing, or skipped), delete,
	// stop, pause, leave, reschedule or resync. SweepUnsure: the sweep reported errors, so it may
	// have done its due action without saying so.
	Sweep       string
	SweepUnsure bool
}

// sessState is the model's state of one session; the zero value is "not started".
type sessState struct {
	Started   bool
	Status    string
	ExpiresMs int64
	Connected bool
	Container bool
	Action    string
	KaMs      int64
}

// effectiveAction is the expiry action that applies: stop and pause need a container session.
func (s sessState) effectiveAction() string {
	if !s.Container {
		return "delete"
	}
	return s.Action
}

// expiryApplies reports whether keepalive expiry can still change the session (it cannot when
// it is deleted or already in the action's target state).
func (s sessState) expiryApplies() bool {
	switch {
	case s.Status == "deleted":
		return false
	case s.effectiveAction() == "stop":
		return s.Status == "running" || s.Status == "paused"
	case s.effectiveAction() == "pause":
		return s.Status == "running"
	}
	return true
}

// due reports whether a sweep at now must apply the expiry action.
func (s sessState) due(now int64) bool { return s.expiryApplies() && s.ExpiresMs <= now }

var targetStatus = map[string]string{"delete": "deleted", "stop": "stopped", "pause": "paused"}

// step applies an operation (not a sweep) to s: the state afterwards and the answer the
// service must give — a success, or only the error status when the operation cannot succeed
// from s (then next is s).
func step(s sessState, in sessInput) (next sessState, want sessOutput) {
	next = s
	answer := func(n sessState) sessOutput {
		return sessOutput{Code: http.StatusOK, Status: n.Status, ExpiresMs: n.ExpiresMs, Connected: n.Connected}
	}
	if in.Op == opStart {
		if s.Started {
			return s, sessOutput{Code: http.StatusConflict}
		}
		next = sessState{Started: true, Status: "running", ExpiresMs: in.Now + in.KaMs, Connected: true,
			Container: in.Container, Action: in.Action, KaMs: in.KaMs}
		out := answer(next)
		out.Code = http.StatusCreated
		return next, out
	}
	if !s.Started {
		return s, sessOutput{Code: http.StatusNotFound}
	}
	deleted := s.Status == "deleted"
	switch in.Op {
	case opGet:
		return s, answer(s)
	case opKeepalive, opIdle:
		switch {
		case deleted:
			return s, sessOutput{Code: http.StatusGone}
		case s.Status != "running":
			return s, sessOutput{Code: http.StatusConflict}
		case in.Op == opIdle:
			next.Connected = false
			return next, sessOutput{Code: http.StatusOK, ExpiresMs: s.ExpiresMs, Disconnect: true}
		}
		next.ExpiresMs, next.Connected = in.Now+s.KaMs, true
		return next, sessOutput{Code: http.StatusOK, ExpiresMs: next.ExpiresMs}
	case opPause, opStop:
		switch {
		case deleted:
			return s, sessOutput{Code: http.StatusGone}
		case !s.Container:
			return s, sessOutput{Code: http.StatusConflict}
		case in.Op == opPause && s.Status == "stopped":
			return s, sessOutput{Code: http.StatusConflict}
		case in.Op == opPause && s.Status == "running":
			next.Status, next.Connected = "paused", false
		case in.Op == opStop && s.Status != "stopped":
			next.Status, next.Connected = "stopped", false
		}
		return next, answer(next)
	case opResume:
		if deleted {
			return s, sessOutput{Code: http.StatusGone}
		}
		if s.Status != "running" {
			next.Status, next.Connected, next.ExpiresMs = "running", true, in.Now+s.KaMs
		}
		return next, answer(next)
	case opDelete:
		if deleted {
			return s, sessOutput{Code: http.StatusGone}
		}
		next.Status, next.Connected = "deleted", false
		return next, answer(next)
	}
	return s, sessOutput{Code: -1}
}

// sweepStep is the state after a sweep at now that reported out for the session; ok false
// when the report is impossible from s.
func sweepStep(s sessState, now int64, out sessOutput) (sessState, bool) {
	if !s.Started {
		return s, out.Sweep == ""
	}
	switch out.Sweep {
	case "":
		return s, true // a sweep may miss a session or lose the race for it: it stays due
	case "delete", "stop", "pause":
		if !s.due(now) || s.effectiveAction() != out.Sweep {
			return s, false
		}
		next := s
		next.Status, next.Connected = targetStatus[out.Sweep], false
		return next, true
	case "leave":
		return s, !s.expiryApplies()
	case "reschedule":
		return s, !s.due(now)
	case "resync":
		// A re-sync puts the lifetime settings in force; the run's settings never change,
		// so all it can change is the due index entry (early since keepalives no longer
		// move it), which the model does not track.
		return s, true
	}
	return s, false
}

// sessionModel is the model. It is nondeterministic only where the history is: an answer of
// 503 (or a sweep that reported errors) may or may not have taken effect.
var sessionModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(sessInput).Session
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		slices.Sort(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() []any { return []any{sessState{}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(sessState), input.(sessInput), output.(sessOutput)
		if in.Op == opSweep {
			var nexts []any
			if next, ok := sweepStep(s, in.Now, out); ok {
				nexts = append(nexts, next)
			}
			if out.SweepUnsure && out.Sweep == "" && s.due(in.Now) {
				nexts = append(nexts, sweepState(s)) // it may have acted and reported an error
			}
			return nexts
		}
		next, want := step(s, in)
		if out.Code == http.StatusServiceUnavailable {
			if want.Code/100 == 2 && next != s {
				return []any{s, next}
			}
			return []any{s}
		}
		if out != want {
			return nil
		}
		return []any{next}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(sessInput), output.(sessOutput)
		return describeOp(in, out)
	},
	DescribeState: func(state any) string {
		s := state.(sessState)
		if !s.Started {
			return "not started"
		}
		c := ""
		if !s.Connected {
			c = " disconnected"
		}
		return fmt.Sprintf("%s%s expires %s (%s)", s.Status, c, msTime(s.ExpiresMs), s.effectiveAction())
	},
}

// sweepState is s after its due expiry action.
func sweepState(s sessState) sessState {
	s.Status, s.Connected = targetStatus[s.effectiveAction()], false
	return s
}

// msTime shows an epoch-ms time as seconds after the tests' epoch.
func msTime(ms int64) string {
	return fmt.Sprintf("t+%.1fs", float64(ms-epoch.UnixMilli())/1000)
}

func describeOp(in sessInput, out sessOutput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%s", in.Op, msTime(in.Now))
	switch {
	case in.Op == opSweep:
		fmt.Fprintf(&b, " → %q", out.Sweep)
		if out.SweepUnsure {
			b.WriteString(" (errors)")
		}
	case out.Code/100 != 2:
		fmt.Fprintf(&b, " → %d", out.Code)
	case in.Op == opKeepalive || in.Op == opIdle:
		fmt.Fprintf(&b, " → expires %s", msTime(out.ExpiresMs))
		if out.Disconnect {
			b.WriteString(" disconnect")
		}
	default:
		fmt.Fprintf(&b, " → %s expires %s", out.Status, msTime(out.ExpiresMs))
		if !out.Connected {
			b.WriteString(" disconnected")
		}
	}
	return b.String()
}
