package pseudolabel

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleMasks() ImageMasks {
	l := NewLabelMap(20, 16)
	for y := 2; y < 8; y++ {
		for x := 3; x < 9; x++ {
			l.Pix[y*20+x] = 1
		}
	}
	for y := 9; y < 14; y++ {
		for x := 10; x < 18; x++ {
			l.Pix[y*20+x] = 2
		}
	}
	bg := NewMask(20, 16)
	for i, v := range l.Pix {
		bg.Pix[i] = v == 0
	}
	return ImageMasks{Grounding: l, Refined: l, Background: bg, GroundingBackground: NewMask(20, 16)}
}

func TestImageMasksRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "000")
	m := sampleMasks()
	require.NoError(t, WriteImageMasks(dir, m))
	for _, f := range []string{FileGroundingMask, "grounding_mask_color.png", FileRefinedMasks, "refined_masks_color.png", FileBackground, FileGroundingBackground} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	got, err := ReadImageMasks(dir, 20, 16)
	require.NoError(t, err)
	assert.Equal(t, m.Grounding, got.Grounding)
	assert.Equal(t, m.Refined, got.Refined)
	assert.Equal(t, m.GroundingBackground, got.GroundingBackground)
	// The JPEG of a 0/255 map stays on its side of 127 on these blocks.
	assert.Equal(t, picture(m.Background), picture(got.Background))
	assert.Len(t, got.BackgroundGray, 20*16)

	// Without grounding_background.png the map reads as zeros.
	require.NoError(t, os.Remove(filepath.Join(dir, FileGroundingBackground)))
	got, err = ReadImageMasks(dir, 20, 16)
	require.NoError(t, err)
	assert.Equal(t, 0, got.GroundingBackground.Area())

	bad := m
	bad.Refined = NewLabelMap(10, 10)
	require.ErrorContains(t, WriteImageMasks(dir, bad), "refined_masks.png is 10×10 but grounding_mask is 20×16")
}

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

func TestReadImageMasksErrors(t *testing.T) {
	fresh := func() string {
		dir := filepath.Join(t.TempDir(), "001")
		require.NoError(t, WriteImageMasks(dir, sampleMasks()))
		return dir
	}
	check := func(dir, file, msg string) {
		t.Helper()
		_, err := ReadImageMasks(dir, 20, 16)
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrMaskFile)
		assert.Contains(t, err.Error(), filepath.Join(dir, file))
		assert.Contains(t, err.Error(), msg)
	}

	dir := fresh()
	require.NoError(t, os.Remove(filepath.Join(dir, FileRefinedMasks)))
	check(dir, FileRefinedMasks, "missing")

	dir = fresh()
	writeImage(t, filepath.Join(dir, FileGroundingMask), image.NewGray(image.Rect(0, 0, 16, 20)))
	check(dir, FileGroundingMask, "is 16×20 but its image is 20×16")

	dir = fresh()
	writeImage(t, filepath.Join(dir, FileGroundingMask), image.NewRGBA(image.Rect(0, 0, 20, 16)))
	check(dir, FileGroundingMask, "not 8-bit greyscale")

	dir = fresh()
	writeImage(t, filepath.Join(dir, FileRefinedMasks), image.NewGray16(image.Rect(0, 0, 20, 16)))
	check(dir, FileRefinedMasks, "not 8-bit greyscale")

	dir = fresh()
	pal := image.NewPaletted(image.Rect(0, 0, 20, 16), color.Palette{color.Black, color.White})
	writeImage(t, filepath.Join(dir, FileGroundingMask), pal)
	check(dir, FileGroundingMask, "not 8-bit greyscale")

	dir = fresh()
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileBackground), []byte("GIF89a..."), 0o644))
	check(dir, FileBackground, "not a PNG or JPEG")

	dir = fresh()
	data, err := os.ReadFile(filepath.Join(dir, FileGroundingMask))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileGroundingMask), data[:len(data)/2], 0o644))
	check(dir, FileGroundingMask, "cannot decode")

	_, err = ReadImageMasks(dir, 0, 16)
	require.ErrorContains(t, err, "not positive")
}
