package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/csad-go/csad/csad/pyref"
	"github.com/csad-go/csad/internal/atomicfile"
)

// benchRefPy is the Python side: it imports csad_ref (package pyref), written next to it.
//
//go:embed bench_ref.py
var benchRefPy []byte

// pyWorker is a running bench_ref.py: one JSON request/answer line at a time (see its doc string).
type pyWorker struct {
	python  string
	dir     string // the scripts, removed by close
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   *bufio.Scanner
	stderr  *tailWriter
	torch   string
	flops   int64
	threads int
	dead    error // set once the worker has failed; later requests return it
}

// pyAnswer is any line bench_ref.py prints.
type pyAnswer struct {
	Error   string    `json:"error"`
	Ready   bool      `json:"ready"`
	Torch   string    `json:"torch"`
	Threads int       `json:"threads"`
	FLOPs   int64     `json:"flops"`
	Seconds float64   `json:"seconds"`
	Scores  []float64 `json:"scores"`
	PeakRSS int64     `json:"peak_rss_bytes"`
}

// startPyWorker writes bench_ref.py and csad_ref.py to a temporary folder and starts the worker
// on the model, with the inputs of batches drawn; ready waits until it has loaded.
func startPyWorker(ctx context.Context, o benchOptions, threads int, batches []int, flops, autocast bool, logw io.Writer) (*pyWorker, error) {
	dir, err := os.MkdirTemp("", "csad-bench-")
	if err != nil {
		return nil, err
	}
	w := &pyWorker{python: o.python, dir: dir, stderr: &tailWriter{w: logw}}
	script := filepath.Join(dir, "bench_ref.py")
	if err := atomicfile.WriteFile(script, benchRefPy); err != nil {
		w.close()
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, pyref.FileName), pyref.Source); err != nil {
		w.close()
		return nil, err
	}
	bs := make([]string, len(batches))
	for i, b := range batches {
		bs[i] = strconv.Itoa(b)
	}
	args := []string{"-B", script, "--model", o.model, "--batches", strings.Join(bs, ","),
		"--threads", strconv.Itoa(threads), "--seed", strconv.FormatUint(o.seed, 10)}
	if flops {
		args = append(args, "--flops")
	}
	if autocast {
		args = append(args, "--autocast-bf16")
	}
	// The context kills Python on SIGINT/SIGTERM, so the temporary folder is still removed.
	w.cmd = exec.CommandContext(ctx, o.python, args...)
	w.cmd.Stderr = w.stderr
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		w.close()
		return nil, err
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		w.close()
		return nil, err
	}
	w.lines = bufio.NewScanner(stdout)
	w.lines.Buffer(make([]byte, 64<<10), 16<<20)
	if err := w.cmd.Start(); err != nil {
		w.cmd = nil
		w.close()
		return nil, fmt.Errorf("starting %s: %w", o.python, err)
	}
	return w, nil
}

// ready waits for the worker's start-up line.
func (w *pyWorker) ready() error {
	a, err := w.read()
	if err != nil {
		return err
	}
	if !a.Ready {
		return w.fail(errors.New("bench_ref.py did not start with its ready line"))
	}
	w.torch, w.flops, w.threads = a.Torch, a.FLOPs, a.Threads
	return nil
}

// run asks for one timed call at batch b.
func (w *pyWorker) run(b int) (pyAnswer, error) { return w.request("run " + strconv.Itoa(b)) }

// peakRSS asks for the worker's VmHWM.
func (w *pyWorker) peakRSS() (int64, error) {
	a, err := w.request("rss")
	if err == nil && a.PeakRSS <= 0 {
		err = w.fail(errors.New("bench_ref.py reported no peak RSS (/proc/self/status has no VmHWM)"))
	}
	return a.PeakRSS, err
}

func (w *pyWorker) request(line string) (pyAnswer, error) {
	if w.dead != nil {
		return pyAnswer{}, w.dead
	}
	if _, err := io.WriteString(w.stdin, line+"\n"); err != nil {
		_, rerr := w.read() // the worker has gone: its last words say why
		if rerr != nil {
			return pyAnswer{}, rerr
		}
		return pyAnswer{}, w.fail(err)
	}
	return w.read()
}

// read reads one answer line; an {"error"} line, a malformed one or the end of the output ends
// the worker with an error naming the cause.
func (w *pyWorker) read() (pyAnswer, error) {
	if w.dead != nil {
		return pyAnswer{}, w.dead
	}
	if !w.lines.Scan() {
		err := w.lines.Err()
		if werr := w.cmd.Wait(); werr != nil {
			err = werr
		}
		w.cmd = nil
		msg := w.stderr.lastLine()
		if strings.Contains(w.stderr.String(), "No module named 'torch'") {
			return pyAnswer{}, w.fail(fmt.Errorf("%s has no torch: install Debian python3-torch ('make setup'), or pass -python=false", w.python))
		}
		if err == nil {
			err = errors.New("it closed its output")
		}
		return pyAnswer{}, w.fail(fmt.Errorf("%s bench_ref.py stopped: %v: %s", w.python, err, msg))
	}
	var a pyAnswer
	if err := json.Unmarshal(w.lines.Bytes(), &a); err != nil {
		return a, w.fail(fmt.Errorf("bench_ref.py answered %q: %w", w.lines.Text(), err))
	}
	if a.Error != "" {
		return a, w.fail(fmt.Errorf("bench_ref.py: %s", a.Error))
	}
	return a, nil
}

func (w *pyWorker) fail(err error) error {
	w.dead = err
	return err
}

// close ends the worker (a "quit" line, then its end of input) and removes its scripts.
func (w *pyWorker) close() {
	if w.cmd != nil {
		_, _ = io.WriteString(w.stdin, "quit\n") // it may be gone already; Wait tells
		_ = w.stdin.Close()
		if err := w.cmd.Wait(); err != nil && w.dead == nil {
			w.dead = fmt.Errorf("%s bench_ref.py: %w", w.python, err)
		}
		w.cmd = nil
	}
	if w.dead == nil {
		w.dead = errors.New("the Python worker is closed")
	}
	os.RemoveAll(w.dir)
}

// tailWriter passes a child's stderr on and keeps its last few KiB for error messages.
type tailWriter struct {
	mu   sync.Mutex
	w    io.Writer
	tail []byte
}

const tailKeep = 8 << 10

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tail = append(t.tail, p...)
	if len(t.tail) > tailKeep {
		t.tail = append([]byte(nil), t.tail[len(t.tail)-tailKeep:]...)
	}
	if t.w != nil {
		return t.w.Write(p)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.tail)
}

func (t *tailWriter) lastLine() string {
	s := strings.TrimSpace(t.String())
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	return s
}
