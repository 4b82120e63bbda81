package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// csad eval gives what csad score followed by csad report gives, writes the maps in the official
// layout, and ends with the table the official README prints.
func TestEvalMatchesScoreAndReport(t *testing.T) {
	model, cat := fixture(t)
	out := t.TempDir()
	stdout, stderr, code := runMain(t, "eval", "-model", model, "-data", filepath.Dir(cat), "-category", filepath.Base(cat), "-out", out)
	require.Equal(t, 0, code, "stderr %q", stderr)
	for _, f := range []string{"scores.jsonl", "metrics.json", "report.md", "maps/test/good/000.tiff"} {
		_, err := os.Stat(filepath.Join(out, filepath.FromSlash(f)))
		assert.NoError(t, err, f)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.GreaterOrEqual(t, len(lines), 3, stdout)
	assert.True(t, strings.HasPrefix(lines[len(lines)-3], "category"), stdout)
	row := strings.Fields(lines[len(lines)-2])
	require.Len(t, row, 5, stdout)
	assert.Equal(t, filepath.Base(cat), row[0])

	rout, rerr, code := runMain(t, "report", "-dataset", cat, "-scores", filepath.Join(out, "scores.jsonl"), "-out", t.TempDir())
	require.Equal(t, 0, code, rerr)
	f := strings.Fields(strings.SplitN(rout, "\n", 2)[0]) // AUROC logical L structural S mean M
	require.Len(t, f, 7, rout)
	assert.Equal(t, []string{f[2], f[4], f[6]}, row[1:4], "eval's table and report's AUROC differ")

	_, stderr, code = runMain(t, "eval", "-model", model, "-data", filepath.Dir(cat), "-out", out)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "-category (or -all)")
}

// csad eval -all evaluates every category of the data root that has <category>.csad in the
// model folder and ends with one row per category and the mean row.
func TestEvalAll(t *testing.T) {
	model, cat := fixture(t)
	models := t.TempDir()
	data, err := os.ReadFile(model)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(models, filepath.Base(cat)+".csad"), data, 0o644))
	out := t.TempDir()
	stdout, stderr, code := runMain(t, "eval", "-all", "-model", models, "-data", filepath.Dir(cat), "-out", out)
	require.Equal(t, 0, code, "stderr %q", stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.GreaterOrEqual(t, len(lines), 3, stdout)
	assert.True(t, strings.HasPrefix(lines[len(lines)-2], filepath.Base(cat)+" "), stdout)
	assert.True(t, strings.HasPrefix(lines[len(lines)-1], "mean "), stdout)
	_, err = os.Stat(filepath.Join(out, filepath.Base(cat), "metrics.json"))
	require.NoError(t, err)
	_, stderr, code = runMain(t, "eval", "-all", "-model", t.TempDir(), "-data", filepath.Dir(cat), "-out", out)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "no category folder")
}
