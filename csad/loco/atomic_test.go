package loco_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/loco"
)

// TestWriteDefectsConfigIsAtomic: the file is replaced by a rename of a finished temporary file,
// not rewritten in place: a hard link to the old file keeps the old content.
func TestWriteDefectsConfigIsAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, loco.ConfigFile)
	one := loco.DefectsConfig{{DefectName: "a", PixelValue: 1, SaturationThreshold: 10}}
	two := loco.DefectsConfig{{DefectName: "b", PixelValue: 2, SaturationThreshold: 0.5, RelativeSaturation: true}}
	require.NoError(t, loco.WriteDefectsConfig(p, one))
	old, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.Link(p, filepath.Join(dir, "link.json")))
	require.NoError(t, loco.WriteDefectsConfig(p, two))

	kept, err := os.ReadFile(filepath.Join(dir, "link.json"))
	require.NoError(t, err)
	assert.Equal(t, old, kept, "rewritten in place")
	back, err := loco.ReadDefectsConfig(p)
	require.NoError(t, err)
	assert.Equal(t, two, back)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "temporary file left: %v", entries)
	info, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())

	err = loco.WriteDefectsConfig(filepath.Join(dir, "missing", loco.ConfigFile), one)
	assert.ErrorContains(t, err, "loco: ")
}
