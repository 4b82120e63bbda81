package main

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/synth"
	"github.com/csad-go/csad/torch/torchtest"
)

// Bad training input is refused before anything runs, naming the cause.
func TestTrainBadInput(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"preset":"cpu","segmentor":{"Epochs":3},"lgst":{"Iterations":5},"learning_rate":1}`), 0o644))
	opt := synth.DefaultOptions()
	opt.Width, opt.Height = 64, 48
	opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural = 2, 1, 1, 1, 1
	require.NoError(t, synth.Generate(dir, "tray", opt))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "tray", "train", "good")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tray", "train", "good"), 0o755))
	base := []string{"-data", dir, "-category", "tray", "-out", filepath.Join(dir, "run")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-config", cfg}, `unknown field "learning_rate"`},
		{[]string{"-config", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"-preset", "gpu"}, `unknown preset "gpu"`},
		{[]string{"-threshold-quantile", "2"}, "must lie in (0, 1]"},
		{[]string{"-epochs", "-5"}, "out of range"},
		{[]string{"-image-size", "100"}, "multiple of 32"},
		{[]string{"-stages", "segmentor,lgts"}, `unknown stage "lgts"`},
		{[]string{"-device", "tpu"}, "want cpu, cuda or cuda:N"},
		{nil, "holds no .png"},
	} {
		_, _, err := execInProcess(newTrainCmd, append(append([]string{}, base...), c.args...)...)
		require.ErrorContains(t, err, c.want, "%v", c.args)
	}
}

// A training run killed with SIGKILL in the middle of its segmentor stage, resumed, killed again
// in the middle of its LGST stage and resumed again writes the same model.csad, weight for weight,
// as a run that was never interrupted; a rerun without -resume or -force refuses, naming both.
func TestTrainKilledAndResumed(t *testing.T) {
	dir := t.TempDir()
	opt := synth.DefaultOptions()
	opt.Width, opt.Height = 128, 96
	opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural = 20, 4, 1, 1, 1
	require.NoError(t, synth.Generate(dir, "tray", opt))
	cfg := filepath.Join(dir, "c.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"segmentor":{"Epochs":8,"SupOnlyEpochs":3},"lgst":{"Iterations":200}}`), 0o644))
	args := func(out string, extra ...string) []string {
		return append([]string{"train", "-data", dir, "-category", "tray", "-out", out, "-config", cfg, "-lgst-checkpoint-every", "20"}, extra...)
	}
	whole := filepath.Join(dir, "whole")
	_, stderr, code := runMain(t, args(whole)...)
	require.Equal(t, 0, code, stderr)

	killed := filepath.Join(dir, "killed")
	killWhen(t, filepath.Join(killed, "segmentor.checkpoint.pth"), args(killed)...)
	_, err := os.Stat(filepath.Join(killed, "segmentor.checkpoint.pth"))
	require.NoError(t, err, "the run was not killed inside its segmentor stage")

	_, stderr, code = runMain(t, args(killed)...)
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "-resume")
	require.Contains(t, stderr, "-force")

	killWhen(t, filepath.Join(killed, "lgst.checkpoint.pth"), args(killed, "-resume")...)
	_, err = os.Stat(filepath.Join(killed, "model.csad"))
	require.True(t, os.IsNotExist(err), "the killed run wrote a model")

	_, stderr, code = runMain(t, args(killed, "-resume")...)
	require.Equal(t, 0, code, stderr)
	torchtest.SameTensorFiles(t, filepath.Join(whole, "model.csad"), filepath.Join(killed, "model.csad"))
}

// killWhen runs csad with args and sends it SIGKILL as soon as file exists.
func killWhen(t *testing.T, file string, args ...string) {
	t.Helper()
	cmd := mainCmd(args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if _, err := os.Stat(file); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no %s after 3 minutes; stderr %q", file, errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, cmd.Wait())
}

// Masks made elsewhere (-masks ROOT, the official layout) are clustered into the run folder and
// never written: csad pseudo-label's output serves as such a folder here.
func TestTrainExternalMasksAreOnlyRead(t *testing.T) {
	dir := t.TempDir()
	opt := synth.DefaultOptions()
	opt.Width, opt.Height = 128, 96
	opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural = 20, 2, 1, 1, 1
	require.NoError(t, synth.Generate(dir, "tray", opt))
	ext := filepath.Join(dir, "external")
	_, stderr, code := runMain(t, "pseudo-label", "-data", dir, "-category", "tray", "-out", ext)
	require.Equal(t, 0, code, stderr)
	before := treeDigest(t, ext)
	run := filepath.Join(dir, "run")
	_, stderr, code = runMain(t, "train", "-data", dir, "-category", "tray", "-out", run, "-masks", ext, "-stages", "pseudo-labels")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, before, treeDigest(t, ext), "the external masks were modified")
	_, err := os.Stat(filepath.Join(run, "masks", "tray", "info", "filtered_histogram_indices.npy"))
	require.NoError(t, err)
}

// treeDigest is every file's path and bytes under root.
func treeDigest(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	}))
	return out
}
