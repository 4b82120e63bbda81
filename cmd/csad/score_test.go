package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/tiffmap"
	"github.com/csad-go/csad/torch/nn"
)

// jsonLines parses score -json output strictly: every line one object with exactly the four
// fields, numbers finite (the decoder would reject NaN anyway; this names the line).
func jsonLines(t *testing.T, out string) []scoreLine {
	t.Helper()
	var lines []scoreLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var raw map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &raw), "line %q", sc.Text())
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		require.Equal(t, []string{"lgst", "patch_hist", "path", "score"}, keys, "line %q", sc.Text())
		var l scoreLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
		for _, v := range []float64{l.Score, l.LGST, l.PatchHist} {
			require.True(t, finite(v), "line %q", sc.Text())
		}
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	return lines
}

// tiffs lists the .tiff files under dir, relative and slash-separated, and fails on any
// temporary file.
func tiffs(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		assert.NotContains(t, d.Name(), ".tmp-", "temporary file left: %s", p)
		if strings.HasSuffix(p, ".tiff") {
			rel, err := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
			return err
		}
		return nil
	})
	require.NoError(t, err)
	slices.Sort(out)
	return out
}

// TestScoreJSONAndMapLayout: scoring CATEGORY/test prints one line per test image, in sorted
// order, with the image's path, and writes MAPS/test/<defect>/NNN.tiff (image-sized, finite) and
// an overlay beside it: the layout 'csad report' reads, which the report then accepts.
func TestScoreJSONAndMapLayout(t *testing.T) {
	model, cat := fixture(t)
	ds, err := loco.Open(cat)
	require.NoError(t, err)
	maps := filepath.Join(t.TempDir(), "maps")
	out, stderr, code := runMain(t, "score", "-model", model, "-json", "-maps", maps, filepath.Join(cat, "test"))
	require.Equal(t, 0, code, "stderr %q", stderr)
	assert.Empty(t, stderr, "a short run prints no progress")
	lines := jsonLines(t, out)
	require.Len(t, lines, len(ds.Test))
	var wantTiffs []string
	for i, s := range ds.Test {
		assert.Equal(t, filepath.Join(cat, filepath.FromSlash(s.Rel)), lines[i].Path)
		stem := strings.TrimSuffix(s.Rel, ".png")
		wantTiffs = append(wantTiffs, stem+".tiff")
		m, err := tiffmap.ReadFile(filepath.Join(maps, filepath.FromSlash(stem+".tiff")))
		require.NoError(t, err)
		assert.Equal(t, [2]int{64, 48}, [2]int{m.Width, m.Height}, s.Rel)
		mx := float32(math.Inf(-1))
		for _, v := range m.Pix {
			require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0), "%s: non-finite map value", s.Rel)
			mx = max(mx, v)
		}
		f, err := os.Open(filepath.Join(maps, filepath.FromSlash(stem+"_overlay.png")))
		require.NoError(t, err)
		c, err := png.DecodeConfig(f)
		f.Close()
		require.NoError(t, err)
		assert.Equal(t, [2]int{64, 48}, [2]int{c.Width, c.Height})
	}
	slices.Sort(wantTiffs)
	assert.Equal(t, wantTiffs, tiffs(t, maps))

	scores := filepath.Join(t.TempDir(), "scores.jsonl")
	require.NoError(t, os.WriteFile(scores, []byte(out), 0o644))
	rout, rerr, code := runMain(t, "report", "-dataset", cat, "-scores", scores, "-maps", maps, "-out", t.TempDir())
	require.Equal(t, 0, code, "report: %s %s", rout, rerr)
	assert.Contains(t, rout, "AUROC logical")

	// The text form: one tab-separated line per image with the same numbers.
	txt, stderr, code := runMain(t, "score", "-model", model, filepath.Join(cat, "test", "good", "000.png"))
	require.Equal(t, 0, code, stderr)
	f := strings.Split(strings.TrimSpace(txt), "\t")
	require.Len(t, f, 4, txt)
	assert.Equal(t, lines[0].Path, f[0])
	assert.True(t, strings.HasPrefix(f[1], "score ") && strings.HasPrefix(f[2], "lgst ") && strings.HasPrefix(f[3], "patch_hist "), txt)
}

// TestScoreSameNameInTwoFolders: 000.png of two folders used to overwrite one 000.tiff. Each
// now keeps its folder, relative to the common root, and the maps differ.
func TestScoreSameNameInTwoFolders(t *testing.T) {
	model, cat := fixture(t)
	a := filepath.Join(cat, "test", "good", "000.png")
	b := filepath.Join(cat, "test", "logical_anomalies", "000.png")
	maps := filepath.Join(t.TempDir(), "maps")
	out, stderr, code := runMain(t, "score", "-model", model, "-json", "-maps", maps, a, b)
	require.Equal(t, 0, code, stderr)
	lines := jsonLines(t, out)
	require.Len(t, lines, 2)
	assert.Equal(t, a, lines[0].Path)
	assert.Equal(t, b, lines[1].Path)
	require.Equal(t, []string{"good/000.tiff", "logical_anomalies/000.tiff"}, tiffs(t, maps))
	ma, err := tiffmap.ReadFile(filepath.Join(maps, "good", "000.tiff"))
	require.NoError(t, err)
	mb, err := tiffmap.ReadFile(filepath.Join(maps, "logical_anomalies", "000.tiff"))
	require.NoError(t, err)
	assert.NotEqual(t, ma.Pix, mb.Pix)

	// Two folders: each keeps its own name under the common root.
	maps2 := filepath.Join(t.TempDir(), "maps")
	_, stderr, code = runMain(t, "score", "-model", model, "-maps", maps2,
		filepath.Join(cat, "test", "good"), filepath.Join(cat, "validation"))
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, []string{"test/good/000.tiff", "test/good/001.tiff", "test/good/002.tiff", "test/good/003.tiff",
		"validation/good/000.tiff"}, tiffs(t, maps2))
}

func TestScoreRefusesDuplicates(t *testing.T) {
	model, cat := fixture(t)
	a := filepath.Join(cat, "test", "good", "000.png")
	_, stderr, code := runMain(t, "score", "-model", model, a, filepath.Join(cat, "test"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "csad: score: "+a+" is given twice (also as "+a+")")

	// a.png and a.jpg would share a.tiff: refused with -maps, fine without.
	dir := t.TempDir()
	data, err := os.ReadFile(a)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.png"), data, 0o644))
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	var jb bytes.Buffer
	require.NoError(t, jpeg.Encode(&jb, img, nil))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.jpg"), jb.Bytes(), 0o644))
	_, stderr, code = runMain(t, "score", "-model", model, "-maps", t.TempDir(), dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "would both write the map")
	out, stderr, code := runMain(t, "score", "-model", model, "-json", dir)
	require.Equal(t, 0, code, stderr)
	assert.Len(t, jsonLines(t, out), 2)
}

// TestScoreSkipsMapsFolder: a -maps folder inside the scored folder is not searched, so a
// second run does not score the first run's overlays.
func TestScoreSkipsMapsFolder(t *testing.T) {
	model, cat := fixture(t)
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(cat, "test", "good", "000.png"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.png"), data, 0o644))
	maps := filepath.Join(dir, "maps")
	for range 2 {
		out, stderr, code := runMain(t, "score", "-model", model, "-json", "-maps", maps, dir)
		require.Equal(t, 0, code, stderr)
		assert.Len(t, jsonLines(t, out), 1)
	}
	assert.Equal(t, []string{filepath.Base(dir) + "/x.tiff"}, tiffs(t, maps))
}

// nanModel writes a copy of the small model whose patch-histogram normaliser std is NaN, so
// every fused score is NaN while LGST stays finite.
func nanModel(t *testing.T, model string) string {
	t.Helper()
	net, h, err := csad.LoadModel(model)
	require.NoError(t, err)
	defer net.Close()
	found := false
	for _, n := range nn.StateDict(net) {
		if strings.HasSuffix(n.Name, "patch_hist_val_std") {
			require.NoError(t, n.Tensor.FillInPlace(math.NaN()).Err())
			found = true
		}
	}
	require.True(t, found, "no patch_hist_val_std buffer")
	p := filepath.Join(t.TempDir(), "nan.csad")
	require.NoError(t, csad.SaveModel(p, net, h))
	return p
}

// TestScoreNaNIsAnError: a NaN score used to print "score NaN" with exit 0, and -json stopped at
// the first NaN without naming the image. Now each such image is an error on stderr naming
// it, stdout never holds a NaN, and the exit status is 1.
func TestScoreNaNIsAnError(t *testing.T) {
	model, cat := fixture(t)
	bad := nanModel(t, model)
	good := filepath.Join(cat, "test", "good")
	for _, flags := range [][]string{{"-json"}, nil} {
		args := append(append([]string{"score", "-model", bad}, flags...), good)
		out, stderr, code := runMain(t, args...)
		assert.Equal(t, 1, code, "%v", flags)
		assert.Empty(t, out, "%v: stdout must not hold NaN results", flags)
		assert.NotContains(t, strings.ToLower(out), "nan")
		// The csad package reports it (csad.ErrNonFinite); the command checks again for results
		// that reach it anyway (TestEmitMixedResults).
		for _, n := range []string{"000", "001", "002", "003"} {
			prefix := "csad: score " + filepath.Join(good, n+".png") + ": "
			i := strings.Index(stderr, prefix)
			if assert.GreaterOrEqual(t, i, 0, "%v: no error for %s in %q", flags, n, stderr) {
				line, _, _ := strings.Cut(stderr[i:], "\n")
				assert.Contains(t, line, "finite", "%v", flags)
			}
		}
		assert.Contains(t, stderr, "csad: score: 4 of 4 images could not be scored")
	}
}

// TestEmitMixedResults drives the result handler with finite and non-finite results: the JSON
// output holds exactly the finite ones, each failure is named once on stderr.
func TestEmitMixedResults(t *testing.T) {
	var out, errb bytes.Buffer
	s := &scorer{out: &out, errw: &errb, asJSON: true, prog: newProgress(&errb, 4, false)}
	s.enc = json.NewEncoder(&out)
	res := func(p string, sc, lg float64) csad.FileResult {
		return csad.FileResult{Path: p, Result: &csad.Result{Score: sc, LGST: lg, PatchHist: 1}}
	}
	for _, r := range []csad.FileResult{
		res("a.png", 1.5, 0.5),
		res("b.png", math.NaN(), 0.5),
		res("c.png", 2, math.Inf(1)),
		{Path: "d.png", Err: errors.New("csad: score d.png: boom")},
		res("e.png", -3, 0.25),
	} {
		require.NoError(t, s.emit(input{r.Path, r.Path}, r))
	}
	lines := jsonLines(t, out.String())
	assert.Equal(t, []scoreLine{{Path: "a.png", Score: 1.5, LGST: 0.5, PatchHist: 1}, {Path: "e.png", Score: -3, LGST: 0.25, PatchHist: 1}}, lines)
	assert.Equal(t, 3, s.failed)
	msgs := strings.Split(strings.TrimSpace(errb.String()), "\n")
	require.Len(t, msgs, 3, errb.String())
	assert.True(t, strings.HasPrefix(msgs[0], "csad: score b.png: result is not a finite number (score NaN, lgst 0.5"), msgs[0])
	assert.True(t, strings.HasPrefix(msgs[1], "csad: score c.png: result is not a finite number (score 2, lgst +Inf"), msgs[1])
	assert.Equal(t, "csad: score d.png: boom", msgs[2])
}

// execInProcess runs a fresh command built by mk with args, as main would, and returns its
// output and error: for checks that end before a model is loaded.
func execInProcess(mk func() *cobra.Command, args ...string) (string, string, error) {
	cmd := mk()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs(goStyleFlags(args))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// TestScoreFlagsOutOfRange: -threads -1 and -batch 0/-5 used to be replaced silently and
// -threads 1000000 hung; each bad value is now refused before anything is loaded.
func TestScoreFlagsOutOfRange(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "x.png")
	writePNG(t, img, 40, 40)
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-threads", "-1"}, "score: -threads -1 is out of range: want 1.."},
		{[]string{"-threads", "1000000"}, "score: -threads 1000000 is out of range"},
		{[]string{"-batch", "0"}, "score: -batch 0 is out of range: want 1..256"},
		{[]string{"-batch", "-5"}, "score: -batch -5 is out of range"},
		{[]string{"-batch", "257"}, "score: -batch 257 is out of range"},
		{[]string{"-max-pixels", "0"}, "score: -max-pixels 0: want a pixel count in 1..268435456"},
		{[]string{"-max-pixels", "300000000"}, "score: -max-pixels 300000000: want a pixel count in 1..268435456"},
		{[]string{"-maps", dir, "-map-size", "64"}, `score: bad -map-size "64"`},
		{[]string{"-maps", dir, "-map-size", "0x5"}, `score: bad -map-size "0x5"`},
		{[]string{"-maps", dir, "-map-size", "20x20x3"}, `score: bad -map-size "20x20x3"`},
		{[]string{"-maps", dir, "-map-size", "20000x20"}, `score: bad -map-size "20000x20"`},
		{[]string{"-map-size", "20x20"}, "score: -map-size needs -maps"},
		{[]string{"-maps", img}, "score: -maps " + img + " is a file; give a folder"},
	} {
		args := append(append([]string{"-model", "never-loaded.csad"}, c.flags...), img)
		out, _, err := execInProcess(newScoreCmd, args...)
		assert.Empty(t, out, "%v", c.flags)
		if assert.Error(t, err, "%v", c.flags) {
			assert.True(t, strings.HasPrefix(err.Error(), c.want), "%v: error %q, want %q", c.flags, err, c.want)
		}
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-threads", "-1"}, "bench: -threads -1 is out of range"},
		{[]string{"-batch", "1,0"}, "bench: -batch 0 is out of range"},
		{[]string{"-batch", "300"}, "bench: -batch 300 is out of range"},
	} {
		_, _, err := execInProcess(newBenchCmd, append([]string{"-model", "never-loaded.csad", "-python=false"}, c.flags...)...)
		assert.ErrorContains(t, err, c.want, "%v", c.flags)
	}
	// Through main: one line, one prefix, exit status 1.
	_, stderr, code := runMain(t, "score", "-model", "m.csad", "-threads", "-1", img)
	assert.Equal(t, 1, code)
	assert.Equal(t, "csad: score: -threads -1 is out of range: want 1..", stderr[:min(len(stderr), 50)])
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
}

// writePNG writes a w×h image of one colour.
func writePNG(t *testing.T, p string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o644))
}

// hugeCanvasPNG is the start of a PNG declaring a w×h grey canvas: all a header check reads.
func hugeCanvasPNG(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0)
	chunk := append([]byte("IHDR"), ihdr...)
	out := binary.BigEndian.AppendUint32([]byte("\x89PNG\r\n\x1a\n"), uint32(len(ihdr)))
	out = append(out, chunk...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
}

// TestScoreImageSizeLimits: a 1×1 image is scored with a warning naming it; a 13000×13000
// canvas is refused before decoding (the error names it and the flag), the other images are
// still scored and the exit status is 1; -max-pixels moves the limit.
func TestScoreImageSizeLimits(t *testing.T) {
	model, _ := fixture(t)
	dir := t.TempDir()
	tiny := filepath.Join(dir, "tiny.png")
	writePNG(t, tiny, 1, 1)
	okImg := filepath.Join(dir, "ok.png")
	writePNG(t, okImg, 40, 40)
	out, stderr, code := runMain(t, "score", "-model", model, "-json", tiny)
	require.Equal(t, 0, code, stderr)
	assert.Len(t, jsonLines(t, out), 1)
	assert.Contains(t, stderr, "csad: warning: "+tiny+" is 1×1, under 32 pixels on a side")

	huge := filepath.Join(dir, "huge.png")
	require.NoError(t, os.WriteFile(huge, hugeCanvasPNG(13000, 13000), 0o644))
	out, stderr, code = runMain(t, "score", "-model", model, "-json", dir)
	assert.Equal(t, 1, code)
	assert.Len(t, jsonLines(t, out), 2, "ok.png and tiny.png are still scored")
	assert.Contains(t, stderr, "csad: score: imageproc: read "+huge+": image too large: 13000×13000 is 169.0 Mpx, above the limit of 64.0 Mpx")
	assert.Contains(t, stderr, "-max-pixels raises the limit")
	assert.Contains(t, stderr, "csad: score: 1 of 3 images could not be scored")

	_, stderr, code = runMain(t, "score", "-model", model, "-max-pixels", "1599", okImg)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "40×40 is 0.0 Mpx, above the limit of 0.0 Mpx (1599 pixels)")
	_, stderr, code = runMain(t, "score", "-model", model, "-max-pixels", "1600", okImg)
	assert.Equal(t, 0, code, stderr)
}

// TestScoreMapSize: -map-size writes maps of that size; at the image's own size the result is
// LibTorch's image-size map within float32 rounding (Go's bilinear on the same 64×64 values).
func TestScoreMapSize(t *testing.T) {
	model, cat := fixture(t)
	img := filepath.Join(cat, "test", "structural_anomalies", "001.png")
	run := func(flags ...string) *tiffmap.Map {
		maps := t.TempDir()
		args := append(append([]string{"score", "-model", model, "-maps", maps}, flags...), img)
		_, stderr, code := runMain(t, args...)
		require.Equal(t, 0, code, stderr)
		m, err := tiffmap.ReadFile(filepath.Join(maps, "001.tiff"))
		require.NoError(t, err)
		return m
	}
	def := run()
	same := run("-map-size", "64x48")
	small := run("-map-size", "20X10")
	assert.Equal(t, [2]int{20, 10}, [2]int{small.Width, small.Height})
	require.Equal(t, [2]int{64, 48}, [2]int{same.Width, same.Height})
	d := 0.0
	scale := 0.0
	for i := range def.Pix {
		d = max(d, math.Abs(float64(def.Pix[i]-same.Pix[i])))
		scale = max(scale, math.Abs(float64(def.Pix[i])))
	}
	t.Logf("max |Δ| %g on maps up to %g", d, scale)
	assert.LessOrEqual(t, d, 1e-6*max(scale, 1), "max |Δ| %g on maps up to %g", d, scale)
}
