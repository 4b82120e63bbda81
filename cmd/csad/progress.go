package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports how far a long run is, on stderr: a bar when stderr is a terminal, else a
// line every progressEvery (logs and CI keep a readable trace without one line per image).
// Runs shorter than that print nothing.
type progress struct {
	w           io.Writer
	total, done int
	failed      int
	start, last time.Time
	now         func() time.Time
	bar         *progressbar.ProgressBar
	lines       int
}

const progressEvery = 5 * time.Second

// newProgress returns a reporter for total items; quiet or an empty run prints nothing.
func newProgress(w io.Writer, total int, quiet bool) *progress {
	p := &progress{w: w, total: total, now: time.Now}
	if quiet || total == 0 {
		p.w = nil
		return p
	}
	p.start = p.now()
	p.last = p.start
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("scoring"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// message prints a line (an error, a warning) without tearing the bar.
func (p *progress) message(w io.Writer, line string) {
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintln(w, line)
}

// add counts n more items, failed of them failed.
func (p *progress) add(n, failed int) {
	p.done += n
	p.failed += failed
	if p.w == nil {
		return
	}
	if p.bar != nil {
		p.bar.Add(n)
		return
	}
	now := p.now()
	if now.Sub(p.last) < progressEvery || p.done >= p.total {
		return
	}
	p.last = now
	p.lines++
	el := now.Sub(p.start)
	rate := float64(p.done) / el.Seconds()
	left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
	fmt.Fprintf(p.w, "csad: score: %d/%d images (%.0f%%), %.2f images/s, about %s left%s\n",
		p.done, p.total, 100*float64(p.done)/float64(p.total), rate, left.Round(time.Second), p.failedNote())
}

// finish ends the bar, or after periodic lines prints the summary line.
func (p *progress) finish() {
	if p.w == nil {
		return
	}
	if p.bar != nil {
		p.bar.Finish()
		return
	}
	if p.lines == 0 {
		return
	}
	el := p.now().Sub(p.start)
	fmt.Fprintf(p.w, "csad: score: %d/%d images in %s (%.2f images/s)%s\n",
		p.done, p.total, el.Round(100*time.Millisecond), float64(p.done)/el.Seconds(), p.failedNote())
}

func (p *progress) failedNote() string {
	if p.failed == 0 {
		return ""
	}
	return fmt.Sprintf(", %d failed", p.failed)
}
