package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/synth"
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

// On a model that csad train makes (the CPU preset's segmentor schedule, 200 LGST iterations, a
// synthetic tray), csad eval -fast prints the table that csad eval prints: every AUROC and
// AU-sPRO digit (docs/numerics.md: fast mode's scores differ by float32 rounding, and a flipped
// segmentation pixel moves the patch-histogram score a little, which must not reorder images).
// csad eval -fast -bf16, where the CPU has bfloat16 arithmetic, prints the same AUROCs, and an
// AU-sPRO within bf16SPRO of it: its LGST maps carry bfloat16 rounding (docs/numerics.md#bfloat16).
func TestEvalFastMatchesExactOnTrainedModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model (about 70 s)")
	}
	dir := t.TempDir()
	opt := synth.DefaultOptions()
	opt.Width, opt.Height = 128, 96
	opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural = 20, 4, 10, 10, 10
	require.NoError(t, synth.Generate(dir, "tray", opt))
	cfg := filepath.Join(dir, "c.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"segmentor":{"Epochs":60,"SupOnlyEpochs":25},"lgst":{"Iterations":200}}`), 0o644))
	run := filepath.Join(dir, "run")
	_, stderr, code := runMain(t, "train", "-data", dir, "-category", "tray", "-out", run, "-config", cfg)
	require.Equal(t, 0, code, stderr)

	table := func(out string, extra ...string) (rows []string, scores map[string]float64) {
		args := append([]string{"eval", "-model", filepath.Join(run, "model.csad"), "-data", dir, "-category", "tray", "-out", out}, extra...)
		stdout, stderr, code := runMain(t, args...)
		require.Equal(t, 0, code, "stderr %q", stderr)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		require.GreaterOrEqual(t, len(lines), 3, stdout)
		rows = lines[len(lines)-2:]
		data, err := os.ReadFile(filepath.Join(out, "scores.jsonl"))
		require.NoError(t, err)
		scores = map[string]float64{}
		for line := range strings.Lines(strings.TrimSpace(string(data))) {
			var rec struct {
				Path  string  `json:"path"`
				Score float64 `json:"score"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
			scores[rec.Path] = rec.Score
		}
		return rows, scores
	}
	exact, exactScores := table(filepath.Join(dir, "exact"))
	fast, fastScores := table(filepath.Join(dir, "fast"), "-fast")
	require.Len(t, exactScores, 30)
	assert.Equal(t, exact, fast, "csad eval -fast prints another table")
	var worst float64
	for p, s := range exactScores {
		f, ok := fastScores[p]
		require.True(t, ok, p)
		worst = max(worst, math.Abs(f-s))
	}
	// The comparison is on a model that ranks images (measured: logical 90, structural 70), not
	// one at chance, where few scores would be close enough to matter.
	row := strings.Fields(exact[0]) // tray logical structural mean AU-sPRO
	require.Len(t, row, 5, exact[0])
	mean, err := strconv.ParseFloat(row[3], 64)
	require.NoError(t, err, exact[0])
	assert.GreaterOrEqual(t, mean, 60.0, "mean AUROC of the trained model")
	t.Logf("exact and fast: %q; fused scores differ by at most %.2g", exact[0], worst)

	if err := csad.CheckBFloat16CPU(); err != nil {
		t.Logf("no bfloat16 check: %v", err)
		return
	}
	bf, _ := table(filepath.Join(dir, "bf16"), "-fast", "-bf16")
	for i := range exact {
		e, b := strings.Fields(exact[i]), strings.Fields(bf[i])
		require.Len(t, b, 5, bf[i])
		assert.Equal(t, e[:4], b[:4], "csad eval -fast -bf16 gives other AUROCs")
		se, err := strconv.ParseFloat(e[4], 64)
		require.NoError(t, err, exact[i])
		sb, err := strconv.ParseFloat(b[4], 64)
		require.NoError(t, err, bf[i])
		assert.InDelta(t, se, sb, bf16SPRO, "AU-sPRO")
	}
	t.Logf("bf16: %q", bf[0])
}

// bf16SPRO bounds how far bfloat16 fast mode's AU-sPRO (in percent) may be from the exact
// mode's on the trained model: about twice the measured 0.013.
const bf16SPRO = 0.03
