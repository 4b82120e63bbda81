package imageproc

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pngHeader is the start of a PNG that declares a w×h 8-bit grey canvas: signature and IHDR,
// all DecodeConfig reads. It stands in for the small files with huge canvases that a
// compressor makes of a flat image, without the test allocating the canvas.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // bit depth 8, grey, deflate, adaptive filter, no interlace
	chunk := append([]byte("IHDR"), ihdr...)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, uint32(len(ihdr)))
	out = append(out, chunk...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
}

// TestDefaultMaxPixelsRefusesHugeCanvas: the 13000×13000 canvas (169 Mpx) that cost 4.4 GiB is
// refused by default, by Decode and by ReadSize, before any pixels are read; 64 Mpx itself is
// allowed.
func TestDefaultMaxPixelsRefusesHugeCanvas(t *testing.T) {
	require.Equal(t, DefaultMaxPixels, MaxPixels())
	path := filepath.Join(t.TempDir(), "huge.png")
	require.NoError(t, os.WriteFile(path, pngHeader(13000, 13000), 0o644))

	_, err := Load(path)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "huge.png")
	assert.Contains(t, err.Error(), "13000×13000 is 169.0 Mpx, above the limit of 64.0 Mpx")

	_, _, err = ReadSize(path)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Contains(t, err.Error(), "imageproc: read "+path)

	ok := filepath.Join(t.TempDir(), "edge.png")
	require.NoError(t, os.WriteFile(ok, pngHeader(8000, 8000), 0o644)) // exactly 64 Mpx
	w, h, err := ReadSize(ok)
	require.NoError(t, err)
	assert.Equal(t, [2]int{8000, 8000}, [2]int{w, h})
}

func TestReadSize(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, 37, 5))))
	p := filepath.Join(dir, "a.png")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	w, h, err := ReadSize(p)
	require.NoError(t, err)
	assert.Equal(t, 37, w)
	assert.Equal(t, 5, h)
	w, h, err = ReadSize(filepath.Join(goldenDir, "src_jpeg.jpg"))
	require.NoError(t, err)
	img, err := Load(filepath.Join(goldenDir, "src_jpeg.jpg"))
	require.NoError(t, err)
	assert.Equal(t, [2]int{img.W, img.H}, [2]int{w, h})

	defer SetMaxPixels(SetMaxPixels(37*5 - 1))
	_, _, err = ReadSize(p)
	assert.ErrorIs(t, err, ErrTooLarge)

	for name, data := range map[string][]byte{
		"empty.png": nil,
		"text.png":  []byte("hello world"),
		"trunc.png": buf.Bytes()[:20],
	} {
		q := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(q, data, 0o644))
		_, _, err := ReadSize(q)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), q, name)
	}
	_, _, err = ReadSize(filepath.Join(dir, "text.png"))
	assert.ErrorIs(t, err, ErrFormat)
	assert.Panics(t, func() { SetMaxPixels(0) })
}
