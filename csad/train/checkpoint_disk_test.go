package train

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
)

// A disk that fills up while a checkpoint is written gives a clear error, and the previous
// checkpoint stays intact and loadable: checkpoints go through a temporary file and a rename.
// The full disk is a small tmpfs (needs root, as CI runs; skipped otherwise).
func TestCheckpointOnFullDiskKeepsPrevious(t *testing.T) {
	net, err := csad.NewInitialised(csad.SmallConfig(2), 1)
	require.NoError(t, err)
	defer net.Close()
	require.NoError(t, net.TeacherStd.FillInPlace(1).Err())
	cfg := DefaultLGSTTrainConfig()
	cfg.Iterations = 10
	tr, err := NewLGSTTrainer(net, cfg)
	require.NoError(t, err)
	defer tr.Close()

	// Measure one checkpoint, then mount a disk with room for it and a bit, not for two.
	probe := filepath.Join(t.TempDir(), "probe.pth")
	require.NoError(t, saveLGSTCheckpoint(probe, net, tr, 3))
	st, err := os.Stat(probe)
	require.NoError(t, err)
	disk := t.TempDir()
	size := st.Size() + st.Size()/2
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v %s", err, out)
	}
	defer func() { require.NoError(t, syscall.Unmount(disk, 0)) }()

	path := filepath.Join(disk, "lgst.checkpoint.pth")
	require.NoError(t, saveLGSTCheckpoint(path, net, tr, 3))
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	// The weights change, the next checkpoint does not fit next to the old one.
	ns := torch.NewNoGradScope()
	defer ns.Close()
	require.NoError(t, net.Student.Conv1.Weight.Share(ns).FillInPlace(0.5).Err())
	err = saveLGSTCheckpoint(path, net, tr, 6)
	require.Error(t, err)
	require.ErrorContains(t, err, "previous checkpoint is intact")
	require.ErrorContains(t, err, "no space left on device")
	now, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	require.Equal(t, good, now, "the previous checkpoint changed")
	entries, err := os.ReadDir(disk)
	require.NoError(t, err)
	require.Len(t, entries, 1, "a temporary file was left on the full disk")

	next, err := loadLGSTCheckpoint(path, net, tr)
	require.NoError(t, err)
	require.Equal(t, 3, next)
	w, err := net.Student.Conv1.Weight.Float32s()
	require.NoError(t, err)
	require.NotEqual(t, float32(0.5), w[0], "the weights were not restored from the previous checkpoint")
}
