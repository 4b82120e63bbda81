// Command csad is the command-line front end of csad-go: data set
// generation, evaluation reports and (added by other files of this package)
// training, scoring and benchmarks.
//
// Flags are parsed by spf13/pflag; long flags may be written with one dash,
// as Go tools write them (-out DIR), or with two (--out DIR, --out=DIR).
//
// Every subcommand lives in its own file and registers itself on rootCmd in
// an init function, so adding one does not touch this file. Errors are
// printed to stderr once, as "csad: <message>", and the exit status is 1.
//
// SIGINT and SIGTERM cancel the context every command runs under: a command
// stops at its next check, the temporary files of writes in progress are
// removed (internal/atomicfile), and the exit status is 128 + the signal
// number (130, 143). Every output file is written to a temporary sibling and
// renamed into place, so what a stopped run leaves is complete.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/internal/atomicfile"
	"github.com/csad-go/csad/torch"
)

var rootCmd = &cobra.Command{
	Use:   "csad",
	Short: "CSAD: component segmentation for logical anomaly detection",
	Long: `CSAD: component segmentation for logical anomaly detection (BMVC 2024), on LibTorch.
The method, its scores and maps are described in docs/method.md.`,
	// Errors are printed once, by main, without the usage text that cobra
	// would add to every failure.
	SilenceErrors: true,
	SilenceUsage:  true,
}

func init() {
	rootCmd.SetVersionTemplate("csad {{.Version}}\n")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// stopGrace is how long a command may take to reach its next cancellation check after a
// signal. A forward pass cannot be interrupted from Go (a paper-size batch of 8 takes 20 s on
// two cores), so after this the process removes its temporary files and exits anyway.
const stopGrace = 3 * time.Second

// exitMu is held by whichever goroutine ends the process, so a forced stop and the normal end
// of main never both print and exit.
var exitMu sync.Mutex

// run executes the command line and returns the exit status.
func run(args []string, stderr io.Writer) int {
	rootCmd.Version = version()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go watchSignals(ctx, cancel, sigs, stderr)

	rootCmd.SetArgs(goStyleFlags(args))
	err := rootCmd.ExecuteContext(ctx)
	exitMu.Lock()
	defer exitMu.Unlock()
	var sig signalCause
	if errors.As(context.Cause(ctx), &sig) {
		return stopped(sig, stderr)
	}
	if err != nil {
		printError(stderr, err)
		return 1
	}
	return 0
}

// signalCause is the cancellation cause of the command's context when a signal stopped it.
type signalCause struct{ sig syscall.Signal }

func (s signalCause) Error() string { return "stopped by " + signalName(s.sig) }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// watchSignals cancels ctx on the first signal; a second signal, or a command that has not
// returned within stopGrace, ends the process from here.
func watchSignals(ctx context.Context, cancel context.CancelCauseFunc, sigs <-chan os.Signal, stderr io.Writer) {
	var first os.Signal
	select {
	case first = <-sigs:
	case <-ctx.Done():
		return
	}
	s, ok := first.(syscall.Signal)
	if !ok {
		s = syscall.SIGTERM
	}
	cancel(signalCause{s})
	select {
	case <-sigs:
	case <-time.After(stopGrace):
	}
	exitMu.Lock()
	os.Exit(stopped(signalCause{s}, stderr))
}

// stopped removes the temporary files of writes in progress and returns the shell's status for
// a process ended by sig.
//
// On a forced stop, writers may still be running: the message goes first so that as little
// time as possible passes between RemoveTemps and the exit.
func stopped(sig signalCause, stderr io.Writer) int {
	fmt.Fprintf(stderr, "csad: %s; the files written so far are complete and no partial file is left\n", sig)
	atomicfile.RemoveTemps()
	return 128 + int(sig.sig)
}

// printError prints err once with one "csad: " prefix: library errors start with their package
// name, and the csad package's name is also the command's.
func printError(w io.Writer, err error) {
	msg := err.Error()
	for strings.HasPrefix(msg, "csad: ") {
		msg = strings.TrimPrefix(msg, "csad: ")
	}
	fmt.Fprintln(w, "csad: "+msg)
}

// version is what 'csad --version' prints: the module version (a pseudo-version or "(devel)"
// for a build from a work tree), the VCS commit when the build recorded one, the Go toolchain
// and the LibTorch the binary is linked against.
func version() string {
	v, rev, dirty := "(devel)", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = ", modified"
				}
			}
		}
	}
	out := v
	if rev != "" {
		out += fmt.Sprintf(" (commit %.12s%s)", rev, dirty)
	}
	return out + fmt.Sprintf(", %s, LibTorch %s", runtime.Version(), torch.Version())
}

// goStyleFlags rewrites single-dash long flags (-model m.csad) to pflag's two-dash form, so
// both the Go convention and the GNU one work. Single letters (-h) and negative numbers are
// left alone; everything after "--" is an argument.
func goStyleFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && isLetter(a[1]) && isLetter(a[2]) {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// maxThreads is the largest -threads accepted. LibTorch starts one OS thread per intra-op
// thread; far more than the cores only adds contention, and a million hung the process while
// it created them.
func maxThreads() int { return 4 * runtime.NumCPU() }

// checkThreads validates a -threads value: 0 keeps LibTorch's default.
func checkThreads(cmd string, n int) error {
	if n < 0 || n > maxThreads() {
		return fmt.Errorf("%s: -threads %d is out of range: want 1..%d (4 × this machine's %d CPUs), or 0 for LibTorch's default",
			cmd, n, maxThreads(), runtime.NumCPU())
	}
	return nil
}

// maxBatch bounds -batch: a paper-size forward pass needs about 220 MiB per image (README,
// Performance), so 256 images already need 55 GiB.
const maxBatch = 256

func checkBatch(cmd string, n int) error {
	if n < 1 || n > maxBatch {
		return fmt.Errorf("%s: -batch %d is out of range: want 1..%d images per forward pass", cmd, n, maxBatch)
	}
	return nil
}

// interrupted is the error a command returns when its context was cancelled: the signal, when
// one caused it.
func interrupted(cmd *cobra.Command) error {
	ctx := cmd.Context()
	if ctx == nil || ctx.Err() == nil {
		return nil
	}
	return context.Cause(ctx)
}
