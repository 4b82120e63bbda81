package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/synth"
)

// TestMain lets the tests run the real main (exit status and stderr) by
// re-executing the test binary with CSAD_RUN_MAIN set.
func TestMain(m *testing.M) {
	if os.Getenv("CSAD_RUN_MAIN") == "1" {
		os.Args = append([]string{"csad"}, strings.Fields(os.Getenv("CSAD_ARGS"))...)
		main()
		os.Exit(0)
	}
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// mainCmd is the command that runs main with args in a child process.
func mainCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CSAD_RUN_MAIN=1", "CSAD_ARGS="+strings.Join(args, " "))
	return cmd
}

func runMain(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := mainCmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

// fixture is shared by the scoring tests: the small golden model imported as small.csad, and
// a tray data set of 64×48 images (4 good, 3 logical, 3 structural test images). Tests must
// not change it.
func fixture(t *testing.T) (model, category string) {
	t.Helper()
	fixtureOnce.Do(func() {
		if fixtureDir, fixtureErr = os.MkdirTemp("", "csad-cli-test-"); fixtureErr != nil {
			return
		}
		o := synth.DefaultOptions()
		o.Width, o.Height = 64, 48
		o.Train, o.Validation, o.TestGood, o.TestLogical, o.TestStructural = 1, 1, 4, 3, 3
		if fixtureErr = synth.Generate(fixtureDir, "tray", o); fixtureErr != nil {
			return
		}
		cmd := mainCmd("import", "-in", filepath.Join("..", "..", "testdata", "golden", "model_small.pth"),
			"-out", filepath.Join(fixtureDir, "small.csad"))
		if out, err := cmd.CombinedOutput(); err != nil {
			fixtureErr = fmt.Errorf("import: %v: %s", err, out)
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return filepath.Join(fixtureDir, "small.csad"), filepath.Join(fixtureDir, "tray")
}

func TestSynthAndReport(t *testing.T) {
	root := t.TempDir()
	out, stderr, code := runMain(t, "synth", "--out", root, "--category", "connectors", "--size", "96x80",
		"--train", "2", "--val", "1", "--test-good", "3", "--test-logical", "3", "--test-structural", "4", "--seed", "5")
	if code != 0 || !strings.Contains(out, "connectors: 13 images") {
		t.Fatalf("synth: code %d, stdout %q, stderr %q", code, out, stderr)
	}
	ds, err := loco.Open(filepath.Join(root, "connectors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Verify(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, s := range ds.Test {
		lines = append(lines, fmt.Sprintf(`{"path":%q,"score":%d}`, s.Rel, i))
	}
	scores := filepath.Join(root, "scores.jsonl")
	if err := os.WriteFile(scores, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := filepath.Join(root, "rep")
	out, stderr, code = runMain(t, "report", "--dataset", filepath.Join(root, "connectors"), "--scores", scores, "--out", rep)
	if code != 0 || !strings.Contains(out, "AUROC logical 100.000 structural 100.000 mean 100.000") {
		t.Fatalf("report: code %d, stdout %q, stderr %q", code, out, stderr)
	}
	for _, f := range []string{"report.md", "metrics.json", "roc.png", "hist.png"} {
		if _, err := os.Stat(filepath.Join(rep, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestErrorsExitOne(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"synth", "--out", t.TempDir(), "--category", "nope"}, `unknown category "nope"`},
		{[]string{"synth", "--category", "tray"}, "--out is required"},
		{[]string{"synth", "--out", t.TempDir(), "--size", "10x10"}, "bad --size"},
		{[]string{"report", "--dataset", t.TempDir(), "--scores", "x", "--out", t.TempDir()}, "missing split"},
		{[]string{"report", "--out", t.TempDir()}, "is required"},
		{[]string{"nosuchcommand"}, "unknown command"},
	} {
		_, stderr, code := runMain(t, c.args...)
		if code != 1 || !strings.HasPrefix(stderr, "csad: ") || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "panic") {
			t.Errorf("%v: code %d, stderr %q (want %q)", c.args, code, stderr, c.want)
		}
	}
}
