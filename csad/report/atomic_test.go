package report_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/report"
)

// TestRunReplacesOutputsAtomically: a second report into the same folder replaces each file by
// renaming a finished temporary file over it, never by rewriting it in place (a reader of
// metrics.json or a run killed mid-plot would otherwise see half a file). Hard links to the
// first run's files tell the two apart: after a rename they still hold the first run's bytes.
func TestRunReplacesOutputsAtomically(t *testing.T) {
	dir := fixture(t)
	scores, maps := writeInputs(t, dir, func(_ int, s loco.Sample) float64 { return float64(s.Label) }, oracle)
	out := filepath.Join(t.TempDir(), "rep")
	sum, err := report.Run(report.Options{Dataset: dir, Scores: scores, Maps: maps, Out: out})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"metrics.json", "roc.png", "hist.png", "worst_cases.png", "report.md"}, sum.Files)
	links := t.TempDir()
	first := map[string][]byte{}
	for _, f := range sum.Files {
		b, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err)
		first[f] = b
		require.NoError(t, os.Link(filepath.Join(out, f), filepath.Join(links, f)))
	}

	// Other scores: every output changes.
	scores2, _ := writeInputs(t, dir, func(i int, _ loco.Sample) float64 { return float64(i % 3) }, oracle)
	_, err = report.Run(report.Options{Dataset: dir, Scores: scores2, Maps: maps, Out: out})
	require.NoError(t, err)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.Contains(e.Name(), ".tmp-"), "temporary file left: %s", e.Name())
	}
	assert.Len(t, entries, len(sum.Files))
	for _, f := range sum.Files {
		kept, err := os.ReadFile(filepath.Join(links, f))
		require.NoError(t, err)
		assert.Equal(t, first[f], kept, "%s was rewritten in place", f)
		now, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err)
		assert.NotEqual(t, first[f], now, "%s was not replaced", f)
	}
}
