// Command csad is the command-line front end of csad-go: data set
// generation, evaluation reports and (added by other files of this package)
// training, scoring and benchmarks.
//
// Flags are POSIX/GNU style as parsed by spf13/pflag: long flags take two
// dashes (--out DIR or --out=DIR); single-dash long flags (-out) are not
// accepted.
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
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "csad:", err)
		os.Exit(1)
	}
}
