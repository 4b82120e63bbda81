package main

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/tiffmap"
	"github.com/csad-go/csad/torch"
)

// TestScoreSIGTERM: a SIGTERM in the middle of 'score -maps' stops the run with status 143 and
// leaves no temporary file; every map present decodes at the image's size, has its overlay,
// and has its JSON line (printed after its maps).
func TestScoreSIGTERM(t *testing.T) {
	model, cat := fixture(t)
	data, err := os.ReadFile(filepath.Join(cat, "test", "good", "000.png"))
	require.NoError(t, err)
	in := t.TempDir()
	const n = 400
	for i := range n {
		d := filepath.Join(in, string(rune('a'+i%8)))
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, strings.Repeat("x", 1+i/8)+".png"), data, 0o644))
	}
	maps := filepath.Join(t.TempDir(), "maps")
	cmd := mainCmd("score", "-model", model, "-json", "-maps", maps, in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if len(tiffsQuiet(maps)) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no maps after 2 minutes; stderr %q", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err = cmd.Wait()
	require.Error(t, err)
	assert.Equal(t, 143, cmd.ProcessState.ExitCode(), "stderr %q", errb.String())
	assert.Contains(t, errb.String(), "csad: stopped by SIGTERM; the files written so far are complete and no partial file is left\n")

	got := tiffs(t, maps) // fails on any temporary file
	lines := jsonLines(t, out.String())
	assert.Less(t, len(got), n, "the run was not stopped")
	assert.Len(t, lines, len(got), "one JSON line per map")
	for _, rel := range got {
		m, err := tiffmap.ReadFile(filepath.Join(maps, filepath.FromSlash(rel)))
		require.NoError(t, err, rel)
		assert.Equal(t, [2]int{64, 48}, [2]int{m.Width, m.Height}, rel)
		f, err := os.Open(filepath.Join(maps, filepath.FromSlash(strings.TrimSuffix(rel, ".tiff")+"_overlay.png")))
		require.NoError(t, err, rel)
		_, err = png.Decode(f)
		f.Close()
		require.NoError(t, err, rel)
	}
}

// tiffsQuiet counts the maps written so far, for polling (no assertions).
func tiffsQuiet(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tiff") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestVersion: --version names the module version, the Go toolchain and the LibTorch linked.
func TestVersion(t *testing.T) {
	out, stderr, code := runMain(t, "--version")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "csad "+version()+"\n", out)
	assert.True(t, strings.HasPrefix(out, "csad (devel)") || strings.HasPrefix(out, "csad v"), out)
	assert.Contains(t, out, runtime.Version())
	assert.Contains(t, out, "LibTorch "+torch.Version())
}

// TestErrorPrintedOnce: library errors that start with "csad: " used to be printed as
// "csad: csad: load model ...".
func TestErrorPrintedOnce(t *testing.T) {
	_, cat := fixture(t)
	missing := filepath.Join(t.TempDir(), "missing.csad")
	_, stderr, code := runMain(t, "score", "-model", missing, filepath.Join(cat, "test"))
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(stderr, "csad: load model "+missing+": "), stderr)
	assert.NotContains(t, stderr, "csad: csad:")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)

	var b strings.Builder
	printError(&b, errString("csad: csad: x"))
	printError(&b, errString("score: y"))
	assert.Equal(t, "csad: x\ncsad: score: y\n", b.String())
}

type errString string

func (e errString) Error() string { return string(e) }

// TestHelpPointsAtDocs: help texts point at docs/method.md, never at the spec folder of the
// development setup or its section numbers, and import's help says what it does.
func TestHelpPointsAtDocs(t *testing.T) {
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		seen++
		text := c.Short + c.Long + c.Example + c.Flags().FlagUsages()
		assert.NotContains(t, text, "shared/spec", c.Name())
		assert.NotContains(t, text, "§", c.Name())
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(rootCmd)
	assert.GreaterOrEqual(t, seen, 6)
	for _, name := range []string{"score", "import", "bench"} {
		c, _, err := rootCmd.Find([]string{name})
		require.NoError(t, err)
		assert.Contains(t, c.Long, "docs/method.md", name)
	}
	out, stderr, code := runMain(t, "import", "--help")
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, out, "Without --in this builds a fresh paper-size model")
	assert.Contains(t, out, "Without -in, they\ngo into a fresh paper-size model")
	assert.Contains(t, out, "One of -in\nand -encoder is required.")
}

// TestImport: a checkpoint and a safetensors file (a .csad file is one) import; anything else
// is named as neither, where it used to be reported as a broken safetensors file.
func TestImport(t *testing.T) {
	model, _ := fixture(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "a.csad")
	stdout, stderr, code := runMain(t, "import", "-in", filepath.Join("..", "..", "testdata", "golden", "model_small.pth"), "-out", out)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "wrote "+out+`: category "model_small", cpu preset, 5 classes, 214 tensors (LibTorch `+torch.Version()+")\n", stdout)
	net, h, err := csad.LoadModel(out)
	require.NoError(t, err)
	net.Close()
	assert.Equal(t, "model_small", h.Category)

	again := filepath.Join(dir, "b.csad")
	_, stderr, code = runMain(t, "import", "-in", model, "-category", "tray", "-out", again)
	require.Equal(t, 0, code, "safetensors input: %s", stderr)

	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*131 + i/7)
	}
	badHeader := binary.LittleEndian.AppendUint64(nil, 1<<40) // a header longer than the file
	badHeader = append(badHeader, []byte(`{"a":1}`)...)
	for name, data := range map[string][]byte{"random.pth": random, "empty.pth": nil, "bad.safetensors": badHeader} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		for _, flag := range []string{"-in", "-encoder"} {
			_, _, err := execInProcess(newImportCmd, flag, p, "-out", filepath.Join(dir, "x.csad"))
			require.Error(t, err, name)
			assert.True(t, strings.HasPrefix(err.Error(), "import: "+p+" is not a PyTorch checkpoint or safetensors file ("), "%s %s: %q", name, flag, err)
			assert.NotContains(t, err.Error(), "safetensors:", "%s: must not be reported as a broken safetensors file", name)
		}
	}
	_, stderr, code = runMain(t, "import", "-in", filepath.Join(dir, "random.pth"), "-out", filepath.Join(dir, "x.csad"))
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(stderr, "csad: import: "), stderr)
	assert.Contains(t, stderr, "(it starts with 00 83 06 89")
	_, _, err = execInProcess(newImportCmd, "-in", dir, "-out", filepath.Join(dir, "x.csad"))
	assert.ErrorContains(t, err, "is a folder")
	_, err = os.Stat(filepath.Join(dir, "x.csad"))
	assert.True(t, os.IsNotExist(err), "nothing written on error")
}

// TestListInputs: paths relative to the common root of the arguments.
func TestListInputs(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"cat/test/good/000.png", "cat/test/logical_anomalies/000.png", "cat/test/good/001.PNG",
		"cat/test/good/notes.txt", "other/000.jpg", "cat/test/maps/000_overlay.png"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), nil, 0o644))
	}
	j := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	rels := func(args []string, skip string) []string {
		in, err := listInputs(args, skip, true)
		require.NoError(t, err)
		var out []string
		for _, i := range in {
			out = append(out, filepath.ToSlash(i.rel))
		}
		return out
	}
	assert.Equal(t, []string{"test/good/000.png", "test/good/001.PNG", "test/logical_anomalies/000.png"},
		rels([]string{j("cat/test")}, j("cat/test/maps")))
	assert.Equal(t, []string{"test/good/000.png", "test/good/001.PNG", "test/logical_anomalies/000.png", "test/maps/000_overlay.png"},
		rels([]string{j("cat/test")}, ""))
	assert.Equal(t, []string{"000.png"}, rels([]string{j("cat/test/good/000.png")}, ""))
	assert.Equal(t, []string{"cat/test/good/000.png", "other/000.jpg"},
		rels([]string{j("cat/test/good/000.png"), j("other/000.jpg")}, ""))
	_, err := listInputs([]string{j("cat/test/good/000.png"), j("nope")}, "", false)
	assert.ErrorContains(t, err, "score: ")

	assert.Equal(t, "/a/b", commonDir([]string{"/a/b/c", "/a/b", "/a/b/d/e"}))
	assert.Equal(t, "/", commonDir([]string{"/a", "/b"}))
	assert.Equal(t, "/a", commonDir([]string{"/a/bc", "/a/b"}))
}

// TestProgressLines: without a terminal, a line every 5 s and a summary after a long run;
// nothing for a short run or with -quiet.
func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgress(&b, 30, false)
	p.now = func() time.Time { return clock }
	p.start, p.last = clock, clock
	for i := range 30 {
		clock = clock.Add(time.Second)
		failed := 0
		if i == 3 {
			failed = 1
		}
		p.add(1, failed)
	}
	p.finish()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 6, b.String()) // at 5, 10, 15, 20, 25 s, and the summary
	assert.Equal(t, "csad: score: 5/30 images (17%), 1.00 images/s, about 25s left, 1 failed", lines[0])
	assert.Equal(t, "csad: score: 30/30 images in 30s (1.00 images/s), 1 failed", lines[5])

	b.Reset()
	p = newProgress(&b, 3, false)
	p.add(3, 0)
	p.finish()
	assert.Empty(t, b.String(), "short run")
	p = newProgress(&b, 3, true)
	p.now = func() time.Time { return clock.Add(time.Hour) }
	p.add(1, 0)
	p.finish()
	assert.Empty(t, b.String(), "quiet")
}
