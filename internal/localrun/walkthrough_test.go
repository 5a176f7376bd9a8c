package localrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/ddbtest"
	"wspolicy/internal/syncbuf"
)

// The walk-throughs of docs/ are run by TestWalkthroughs so that they cannot drift from what
// the service does. Their convention:
//
//   - a ```sh block is run, in order, in one bash process per page (variables carry over),
//     against a fresh local run whose admin key is "dev", with API set to its /v1 URL;
//   - a ```sh server block (the `make run` line) is what the reader runs; the test starts its
//     own server instead;
//   - a bare ``` block right after a ```sh block is that block's output, compared line by line
//     after normalising what differs on every run: ids (s_…, u_…), times, the run's name
//     suffix (RUN, a Unix time), durations; a ```text block is compared more loosely: every
//     word after "=" may differ too (the timing-dependent table of the sessions page);
//   - any other block (```json, a log excerpt) is shown only.
//
// WALKTHROUGH_UPDATE=1 rewrites the output blocks with what the run printed.

// walkBlock is one fenced block of a page.
type walkBlock struct {
	info       string
	body       string
	start, end int // line numbers of the fences (0-based)
}

// fencedBlocks splits markdown into its fenced blocks.
func fencedBlocks(md string) []walkBlock {
	var out []walkBlock
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") {
			continue
		}
		b := walkBlock{info: strings.TrimSpace(strings.TrimPrefix(lines[i], "```")), start: i}
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
			j++
		}
		b.body = strings.Join(lines[i+1:j], "\n")
		b.end = j
		out = append(out, b)
		i = j
	}
	return out
}

// walkStep is a command block and the output block shown for it (out < 0: none).
type walkStep struct {
	cmd walkBlock
	out int // index of the output block in the page's blocks
}

func walkSteps(blocks []walkBlock) []walkStep {
	var steps []walkStep
	for i, b := range blocks {
		if b.info != "sh" {
			continue
		}
		s := walkStep{cmd: b, out: -1}
		if i+1 < len(blocks) && (blocks[i+1].info == "" || blocks[i+1].info == "text") && blocks[i+1].start <= b.end+2 {
			s.out = i + 1
		}
		steps = append(steps, s)
	}
	return steps
}

var (
	walkID       = regexp.MustCompile(`\b[a-z]_[a-z2-7]{16}\b`)
	walkTime     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	walkClock    = regexp.MustCompile(`\b\d\d:\d\d:\d\d\.\d{1,3}\b`)
	walkRun      = regexp.MustCompile(`\b1\d{9}\b`)
	walkDuration = regexp.MustCompile(`"(duration_ms|items_read|hours_open|hours_used|hours_remaining)":[0-9.e-]+`)
	walkWord     = regexp.MustCompile(`=[\w-]+`)
	walkSpaces   = regexp.MustCompile(`[ \t]+`)
)

// walkNormalise is a line as compared: what differs on every run replaced by a placeholder.
func walkNormalise(line string, loose bool) string {
	line = walkTime.ReplaceAllString(line, "<time>")
	line = walkClock.ReplaceAllString(line, "<clock>")
	line = walkID.ReplaceAllString(line, "<id>")
	line = walkRun.ReplaceAllString(line, "<run>")
	line = walkDuration.ReplaceAllString(line, `"$1":<n>`)
	if loose {
		line = walkWord.ReplaceAllString(line, "=<w>")
	}
	return strings.TrimSpace(walkSpaces.ReplaceAllString(line, " "))
}

func TestWalkthroughs(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatalf("the walk-throughs need jq: %v", err)
	}
	for _, page := range []string{"walkthrough-sessions.md", "walkthrough-launch.md", "walkthrough-preview.md"} {
		t.Run(page, func(t *testing.T) { runWalkthrough(t, filepath.Join("..", "..", "docs", page)) })
	}
}

func runWalkthrough(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	blocks := fencedBlocks(md)
	steps := walkSteps(blocks)
	if len(steps) < 5 {
		t.Fatalf("%s: %d command blocks, want the walk-through's steps", path, len(steps))
	}

	tb := ddbtest.NewStreamTable(t)
	var logs syncbuf.Buffer
	cfg := Config{Port: "0", TableName: tb.Name, DynamoDBEndpoint: tb.Endpoint, AdminKey: "dev", SweepInterval: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := New(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// One script: a marker line before each step, so the output can be split by step.
	const marker = "@@walkthrough-step@@"
	var script strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&script, "echo '%s %d'\n%s\n", marker, i, s.cmd.body)
	}
	fmt.Fprintf(&script, "echo '%s end'\n", marker)
	runCtx, stop := context.WithTimeout(ctx, 3*time.Minute)
	defer stop()
	cmd := exec.CommandContext(runCtx, "bash", "--noprofile", "--norc")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "API=http://"+app.Addr()+"/v1")
	cmd.Stdin = strings.NewReader(script.String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: bash: %v\n%s\nserver log:\n%s", path, err, out.String(), logs.String())
	}
	parts := strings.Split(out.String(), marker+" ")
	got := make([]string, len(steps))
	for _, p := range parts[1:] {
		n, rest, _ := strings.Cut(p, "\n")
		var i int
		if _, err := fmt.Sscanf(n, "%d", &i); err != nil || i >= len(steps) {
			continue
		}
		got[i] = strings.TrimRight(rest, "\n")
	}

	update := os.Getenv("WALKTHROUGH_UPDATE") != ""
	lines := strings.Split(md, "\n")
	// Rewrite from the last block up, so earlier line numbers stay valid.
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		if s.out < 0 {
			if strings.TrimSpace(got[i]) != "" && !update {
				t.Errorf("%s line %d: the block printed output the page does not show:\n%s", path, s.cmd.start+1, got[i])
			}
			continue
		}
		ob := blocks[s.out]
		if update {
			lines = append(lines[:ob.start+1], append(strings.Split(got[i], "\n"), lines[ob.end:]...)...)
			continue
		}
		loose := ob.info == "text"
		want, have := strings.Split(ob.body, "\n"), strings.Split(got[i], "\n")
		if len(want) != len(have) {
			t.Errorf("%s line %d: %d lines of output, the page shows %d:\ngot:\n%s\nshown:\n%s", path, ob.start+1, len(have), len(want), got[i], ob.body)
			continue
		}
		for k := range want {
			if w, h := walkNormalise(want[k], loose), walkNormalise(have[k], loose); w != h {
				t.Errorf("%s line %d: output differs from the page:\ngot   %s\nshown %s\n(normalised: got %s, shown %s)", path, ob.start+2+k, have[k], want[k], h, w)
			}
		}
	}
	if update {
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Every JSON line the page shows as output is valid JSON (a sanity check on the page).
	for _, s := range steps {
		if s.out < 0 {
			continue
		}
		for _, l := range strings.Split(blocks[s.out].body, "\n") {
			if strings.HasPrefix(l, "{") && strings.HasSuffix(l, "}") && !json.Valid([]byte(l)) {
				t.Errorf("%s: shown output line is not valid JSON: %s", path, l)
			}
		}
	}
}
