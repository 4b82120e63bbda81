package tiffmap

import (
	"bytes"
	"encoding/hex"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteFileIsAtomic: WriteFile replaces the file by renaming a finished temporary file over
// it, never by rewriting it in place. A hard link to the old file tells the two apart: a rename
// leaves the link's content alone, an in-place write changes it. A failed write leaves the old
// map and no temporary file.
func TestWriteFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.tiff")
	old := New(2, 2)
	old.Pix[0] = 1
	require.NoError(t, WriteFile(p, old))
	link := filepath.Join(dir, "link.tiff")
	require.NoError(t, os.Link(p, link))

	require.NoError(t, WriteFile(p, New(3, 1)))
	got, err := ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, [2]int{3, 1}, [2]int{got.Width, got.Height})
	kept, err := ReadFile(link)
	require.NoError(t, err)
	assert.Equal(t, old, kept, "the old file was rewritten in place")

	err = WriteFile(p, &Map{Width: 2, Height: 2, Pix: make([]float32, 3)})
	require.ErrorContains(t, err, "tiffmap: bad map: 2×2 with 3 values")
	assert.Contains(t, err.Error(), p)
	require.ErrorContains(t, WriteFile(p, nil), "nil map")
	got, err = ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, 3, got.Width, "a failed write changed the file")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "temporary file left: %v", entries)
}

// TestTifffileReadsWrittenMaps: the official MVTec LOCO evaluation reads maps with Python's
// tifffile.imread; what it reads back from a written file must be the written float32 values,
// bit for bit (NaN payload, infinities, negative zero and subnormals included). Needs
// python3-tifffile ('make setup'); skipped only when that module is missing.
func TestTifffileReadsWrittenMaps(t *testing.T) {
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import tifffile").CombinedOutput(); err != nil {
		t.Skipf("python3 tifffile not available (apt-get install python3-tifffile, or 'make setup'): %v %s", err, out)
	}
	const w, h = 13, 7
	m := New(w, h)
	for i := range m.Pix {
		m.Pix[i] = float32(math.Sin(float64(i))*1e3) / 7
	}
	m.Pix[0] = float32(math.Inf(1))
	m.Pix[1] = float32(math.Inf(-1))
	m.Pix[2] = float32(math.Copysign(0, -1))
	m.Pix[3] = math.Float32frombits(1)          // smallest subnormal
	m.Pix[4] = math.Float32frombits(0x7fc00123) // a quiet NaN with a payload
	m.Pix[5] = math.MaxFloat32
	p := filepath.Join(t.TempDir(), "test", "logical_anomalies", "000.tiff")
	require.NoError(t, WriteFile(p, m))

	script := `import sys, tifffile
a = tifffile.imread(sys.argv[1])
print(a.shape[0], a.shape[1], a.dtype.str, a.astype("<f4").tobytes().hex())`
	out, err := exec.Command(py, "-c", script, p).CombinedOutput()
	require.NoError(t, err, "tifffile: %s", out)
	f := strings.Fields(string(out))
	require.Len(t, f, 4, "tifffile output %q", out)
	assert.Equal(t, []string{"7", "13", "<f4"}, f[:3], "shape (rows, columns) and dtype")
	raw, err := hex.DecodeString(f[3])
	require.NoError(t, err)
	var want bytes.Buffer
	require.NoError(t, Write(&want, m))
	// The pixel data is the last 4·w·h bytes of what Write produced.
	wantPix := want.Bytes()[want.Len()-4*w*h:]
	require.Equal(t, len(wantPix), len(raw))
	for i := range m.Pix {
		assert.Equal(t, wantPix[4*i:4*i+4], raw[4*i:4*i+4], "pixel %d (%v)", i, m.Pix[i])
	}
}

// TestResize checks PyTorch's align_corners=false bilinear on hand-computed values:
// F.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode="bilinear") gives
// rows [0, .25, .75, 1], [.5, .75, 1.25, 1.5], [1.5, 1.75, 2.25, 2.5], [2, 2.25, 2.75, 3].
func TestResize(t *testing.T) {
	m := &Map{Width: 2, Height: 2, Pix: []float32{0, 1, 2, 3}}
	got, err := m.Resize(4, 4)
	require.NoError(t, err)
	assert.Equal(t, []float32{
		0, .25, .75, 1,
		.5, .75, 1.25, 1.5,
		1.5, 1.75, 2.25, 2.5,
		2, 2.25, 2.75, 3,
	}, got.Pix)

	// The same size is a copy; halving a 4×4 averages each 2×2 block's centre.
	same, err := got.Resize(4, 4)
	require.NoError(t, err)
	assert.Equal(t, got.Pix, same.Pix)
	same.Pix[0] = 9
	assert.Equal(t, float32(0), got.Pix[0], "Resize returned its input")
	half, err := got.Resize(2, 2)
	require.NoError(t, err)
	assert.Equal(t, []float32{.375, 1.125, 1.875, 2.625}, half.Pix)
	// Non-square: one row stretched to 3 columns.
	row, err := (&Map{Width: 2, Height: 1, Pix: []float32{4, 8}}).Resize(3, 2)
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float32{4, 6, 8, 4, 6, 8}, row.Pix, 1e-6)

	for _, sz := range [][2]int{{0, 4}, {4, -1}, {1 << 15, 1 << 14}} {
		_, err := m.Resize(sz[0], sz[1])
		assert.ErrorContains(t, err, "tiffmap: resize to", "%v", sz)
	}
	_, err = (&Map{Width: 2, Height: 2}).Resize(4, 4)
	assert.ErrorContains(t, err, "bad map")
}
