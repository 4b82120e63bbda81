// Command csad is the command-line front end of csad-go: data set
// generation, evaluation reports and (added by other files of this package)
// training, scoring and benchmarks.
//
// Flags are parsed by spf13/pflag; long flags may be written with one dash,
// as Go tools write them (-out DIR), or with two (--out DIR, --out=DIR).
//
// Every subcommand lives in its own file and registers itself on rootCmd in
// an init function, so adding one does not touch this file. Errors are
// printed to stderr as "csad: <message>" and the exit status is 1.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:   "csad",
	Short: "CSAD: component segmentation for logical anomaly detection",
	// Errors are printed once, by main, without the usage text that cobra
	// would add to every failure.
	SilenceErrors: true,
	SilenceUsage:  true,
}

func main() {
	rootCmd.SetArgs(goStyleFlags(os.Args[1:]))
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "csad:", err)
		os.Exit(1)
	}
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
