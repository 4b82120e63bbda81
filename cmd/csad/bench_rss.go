package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
)

// benchSelfCmd is the command that runs this binary with args: the RSS phase's child for one Go
// column. Tests replace it, since their binary is the test binary.
var benchSelfCmd = func(ctx context.Context, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to run a column alone: %w", err)
	}
	return exec.CommandContext(ctx, exe, args...), nil
}

// rssAlone is what 'csad bench -rss-only' prints.
type rssAlone struct {
	Column  string `json:"column"`
	Batch   int    `json:"batch"`
	Calls   int    `json:"calls"`
	PeakRSS int64  `json:"peak_rss_bytes"`
}

// measureRSSAlone fills PeakRSSAlone of every result that has figures, one fresh process per
// column and batch size, one after the other (nothing else of the bench runs meanwhile).
func measureRSSAlone(ctx context.Context, rs []benchResult, o benchOptions, threads int, logw io.Writer) error {
	for i := range rs {
		r := &rs[i]
		if r.Error != "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		var err error
		if isPython(r.Column) {
			r.PeakRSSAlone, err = pythonRSSAlone(ctx, o, threads, r.Column, r.Batch, logw)
		} else {
			r.PeakRSSAlone, err = goRSSAlone(ctx, o, threads, r.Column, r.Batch)
		}
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			r.RSSError = err.Error()
		}
	}
	return nil
}

// pythonRSSAlone starts a fresh Python worker for batch b only, makes o.rssCalls calls and reads
// its VmHWM.
func pythonRSSAlone(ctx context.Context, o benchOptions, threads int, col string, b int, logw io.Writer) (int64, error) {
	w, err := startPyWorker(ctx, o, threads, []int{b}, false, col == colPyBF16, logw)
	if err != nil {
		return 0, err
	}
	defer w.close()
	if err := w.ready(); err != nil {
		return 0, err
	}
	for range o.rssCalls {
		if _, err := w.run(b); err != nil {
			return 0, err
		}
	}
	return w.peakRSS()
}

// goRSSAlone runs 'csad bench -rss-only col' in a fresh process.
func goRSSAlone(ctx context.Context, o benchOptions, threads int, col string, b int) (int64, error) {
	cmd, err := benchSelfCmd(ctx, "bench", "-model", o.model, "-rss-only", col, "-batch", strconv.Itoa(b),
		"-threads", strconv.Itoa(threads), "-seed", strconv.FormatUint(o.seed, 10),
		"-rss-calls", strconv.Itoa(o.rssCalls), "-python=false")
	if err != nil {
		return 0, err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return 0, fmt.Errorf("%s alone: %w: %s", col, err, msg)
	}
	var a rssAlone
	if err := json.Unmarshal(stdout.Bytes(), &a); err != nil {
		return 0, fmt.Errorf("%s alone: reading its answer %q: %w", col, stdout.String(), err)
	}
	if a.Column != col || a.Batch != b || a.PeakRSS <= 0 {
		return 0, fmt.Errorf("%s alone: answer %+v is not for batch %d or has no peak", col, a, b)
	}
	return a.PeakRSS, nil
}

// runRSSAlone is the child: it loads the model for one column as that column's users would,
// makes o.rssCalls calls at the one batch size and prints its VmHWM, load included.
func runRSSAlone(ctx context.Context, out io.Writer, o benchOptions) error {
	if o.threads > 0 {
		torch.SetNumThreads(o.threads)
	}
	var col benchColumn
	var size int64
	switch o.rssOnly {
	case colExact, colFast, colBF16:
		m, err := csad.Load(o.model, csad.Options{Threads: o.threads, Fast: o.rssOnly != colExact, BFloat16: o.rssOnly == colBF16})
		if err != nil {
			return err
		}
		col, size = &torchColumn{col: o.rssOnly, m: m}, m.Header().Config.ImageSize
	case colORT, colORTFast:
		net, h, err := csad.LoadModel(o.model)
		if err != nil {
			return err
		}
		c := newORTColumn(net, h, torch.NumThreads(), o.rssOnly == colORTFast)
		if err := net.Close(); err != nil {
			c.close()
			return err
		}
		if c.err != nil {
			c.close()
			return c.err
		}
		col, size = c, h.Config.ImageSize
	}
	defer col.close()
	cols := []benchColumn{col}
	in, err := newBenchInput(cols, size, o.batches[0], o.seed)
	if err != nil {
		return err
	}
	defer in.close()
	for range o.rssCalls {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if _, _, err := col.call(in, false); err != nil {
			return err
		}
	}
	peak, err := peakRSS()
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(rssAlone{Column: o.rssOnly, Batch: o.batches[0], Calls: o.rssCalls, PeakRSS: peak})
}

// peakRSS is VmHWM of /proc/self/status in bytes.
func peakRSS() (int64, error) { return procStatusBytes("VmHWM") }

// procStatusBytes reads a "kB" line of /proc/self/status, in bytes.
func procStatusBytes(key string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("bench: %s: %w (Linux's /proc is needed)", key, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("bench: %s %q: %w", key, rest, err)
				}
				return kb << 10, nil
			}
		}
	}
	return 0, fmt.Errorf("bench: /proc/self/status has no %s line in kB", key)
}
