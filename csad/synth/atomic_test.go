package synth_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/synth"
)

// TestGenerateReplacesFilesAtomically: generating again into the same folder replaces each PNG
// and defects_config.json by renaming a finished temporary file over it, not by rewriting it
// in place (hard links to the first run's files keep their bytes), and leaves no temporary files.
func TestGenerateReplacesFilesAtomically(t *testing.T) {
	root := t.TempDir()
	o := small()
	require.NoError(t, synth.Generate(root, "tray", o))
	first := readTree(t, filepath.Join(root, "tray"))
	links := t.TempDir()
	linked := map[string]string{}
	for rel := range first {
		l := filepath.Join(links, strings.ReplaceAll(rel, string(filepath.Separator), "_"))
		require.NoError(t, os.Link(filepath.Join(root, "tray", rel), l))
		linked[rel] = l
	}
	o.Seed++
	require.NoError(t, synth.Generate(root, "tray", o))
	second := readTree(t, filepath.Join(root, "tray"))
	require.Equal(t, len(first), len(second))
	changed := 0
	for rel, b := range second {
		assert.NotContains(t, rel, ".tmp-", "temporary file left")
		kept, err := os.ReadFile(linked[rel])
		require.NoError(t, err)
		assert.Equal(t, first[rel], kept, "%s rewritten in place", rel)
		if !bytes.Equal(b, first[rel]) {
			changed++
		}
	}
	assert.Greater(t, changed, len(first)/2, "the second seed should change most images")
}
