package pseudolabel

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/csad-go/csad/internal/atomicfile"
)

// File names of the §5.1 layout, inside ROOT/<category>/NNN/.
const (
	FileGroundingMask       = "grounding_mask.png"
	FileGroundingBackground = "grounding_background.png"
	FileRefinedMasks        = "refined_masks.png"
	FileBackground          = "background.jpg"
	FileClusterMap          = "cluster_map.png"
	FileFilteredClusterMap  = "filtered_cluster_map.png"
	// InfoDir is the folder of the per-category files (histograms,
	// indices, info.json), beside the NNN folders.
	InfoDir = "info"
)

// colorName is the visualisation written beside a label map:
// grounding_mask.png → grounding_mask_color.png.
func colorName(name string) string {
	ext := filepath.Ext(name)
	return name[:len(name)-len(ext)] + "_color" + ext
}

// ImageMasks is the mask stage's output for one image (spec §5.2,
// replacement contract).
type ImageMasks struct {
	// Grounding is the component label map (grounding_mask.png).
	Grounding LabelMap
	// Refined is Grounding split into 4-connected pieces and deduplicated
	// with FilterByCombine (refined_masks.png), see RefineLabels.
	Refined LabelMap
	// Background marks the surface around the objects (background.jpg,
	// written 0/255).
	Background Mask
	// GroundingBackground is grounding_background.png; all false when
	// unused, as for Segment's output.
	GroundingBackground Mask
	// BackgroundGray holds the bytes of background.jpg as read by
	// ReadImageMasks (JPEG noise included; the official LSA treats every
	// non-zero byte as background). Background is BackgroundGray > 127.
	// Ignored by WriteImageMasks.
	BackgroundGray []uint8
}

// RefineLabels derives refined_masks.png from a component label map the
// way the official no_sam path does (§5.2 item 7): split into labels,
// split those into 4-connected pieces (bounding box < 95 % of the image,
// more than 50 pixels), FilterByCombine, Merge.
func RefineLabels(l LabelMap) (LabelMap, error) {
	masks, _ := Split(l)
	pieces, err := SplitConnected(masks, SplitOptions{})
	if err != nil {
		return LabelMap{}, err
	}
	kept, err := FilterByCombine(pieces)
	if err != nil {
		return LabelMap{}, err
	}
	if len(kept) > MaxLabels {
		// Keep the largest, as the official code keeps the 255 largest SAM
		// masks; FilterByCombine returns them smallest first.
		kept = kept[len(kept)-MaxLabels:]
	}
	return Merge(l.W, l.H, kept)
}

// NewImageMasks builds the layout of one image from a Segmentation.
func NewImageMasks(s Segmentation) (ImageMasks, error) {
	ref, err := RefineLabels(s.Labels)
	if err != nil {
		return ImageMasks{}, err
	}
	return ImageMasks{Grounding: s.Labels, Refined: ref, Background: s.Background,
		GroundingBackground: NewMask(s.Labels.W, s.Labels.H)}, nil
}

// grayOf returns an 8-bit grey image sharing pix.
func grayOf(w, h int, pix []uint8) *image.Gray {
	return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
}

func binaryGray(m Mask) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, m.W, m.H))
	for i, on := range m.Pix {
		if on {
			g.Pix[i] = 255
		}
	}
	return g
}

// palette is the official color_list (pseudo_label.py), converted from
// OpenCV's BGR to RGB: class i of a cluster map is drawn in palette[i%20].
var palette = func() []color.RGBA {
	bgr := [][3]uint8{{127, 123, 229}, {195, 240, 251}, {120, 200, 255}, {243, 241, 230}, {224, 190, 144},
		{178, 116, 75}, {255, 100, 0}, {0, 255, 100}, {100, 0, 255}, {100, 255, 0}, {255, 0, 255},
		{0, 255, 255}, {192, 192, 192}, {128, 128, 128}, {128, 0, 0}, {128, 128, 0}, {0, 128, 0},
		{128, 0, 128}, {0, 128, 128}, {0, 0, 128}}
	out := make([]color.RGBA, len(bgr))
	for i, c := range bgr {
		out[i] = color.RGBA{c[2], c[1], c[0], 255}
	}
	return out
}()

// labelColor is a fixed pseudo-random colour per component label, so that
// neighbouring labels look different (the official code draws random
// colours; these are reproducible).
func labelColor(v uint8) color.RGBA {
	h := uint32(v)*2654435761 + 0x9e3779b9
	h ^= h >> 15
	h *= 0x2c1b3c6d
	h ^= h >> 12
	return color.RGBA{uint8(64 + h%192), uint8(64 + (h>>8)%192), uint8(64 + (h>>16)%192), 255}
}

// colorize draws a label map: 0 black, v > 0 in col(v).
func colorize(l LabelMap, col func(uint8) color.RGBA) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, l.W, l.H))
	for i, v := range l.Pix {
		c := color.RGBA{0, 0, 0, 255}
		if v > 0 {
			c = col(v)
		}
		copy(out.Pix[4*i:4*i+4], []uint8{c.R, c.G, c.B, c.A})
	}
	return out
}

// ClassColor is the visualisation colour of class value v (1..K) of a
// cluster map.
func ClassColor(v uint8) color.RGBA { return palette[(int(v)-1+len(palette))%len(palette)] }

func writePNG(path string, img image.Image) error {
	err := atomicfile.Write(path, func(w io.Writer) error {
		// Level 1 (default compression) would be smaller; BestSpeed keeps
		// writing a few hundred maps quick.
		e := png.Encoder{CompressionLevel: png.BestSpeed}
		return e.Encode(w, img)
	})
	if err != nil {
		return fmt.Errorf("pseudolabel: write %s: %w", path, err)
	}
	return nil
}

// WriteLabelMap writes l as an 8-bit grey PNG and its visualisation
// (<name>_color.png) beside it, both atomically. col picks the colour of
// each value; nil uses a fixed colour per component label.
func WriteLabelMap(path string, l LabelMap, col func(uint8) color.RGBA) error {
	if l.W <= 0 || l.H <= 0 || len(l.Pix) != l.W*l.H {
		return fmt.Errorf("pseudolabel: write %s: label map of %d pixels does not match its size %d×%d", path, len(l.Pix), l.W, l.H)
	}
	if col == nil {
		col = labelColor
	}
	if err := writePNG(path, grayOf(l.W, l.H, l.Pix)); err != nil {
		return err
	}
	return writePNG(filepath.Join(filepath.Dir(path), colorName(filepath.Base(path))), colorize(l, col))
}

// WriteImageMasks writes the mask-stage files of one image into dir (the
// image's NNN folder, created if needed): grounding_mask.png,
// refined_masks.png (each with its _color.png), background.jpg (0/255 grey
// JPEG, quality 95 like OpenCV's default) and grounding_background.png.
// Every file is written atomically.
func WriteImageMasks(dir string, m ImageMasks) error {
	w, h := m.Grounding.W, m.Grounding.H
	for name, sz := range map[string][2]int{FileRefinedMasks: {m.Refined.W, m.Refined.H},
		FileBackground: {m.Background.W, m.Background.H}, FileGroundingBackground: {m.GroundingBackground.W, m.GroundingBackground.H}} {
		if sz != [2]int{w, h} {
			return fmt.Errorf("pseudolabel: write %s: %s is %d×%d but grounding_mask is %d×%d; all maps of an image have its size", dir, name, sz[0], sz[1], w, h)
		}
	}
	if err := m.Background.check(); err != nil {
		return fmt.Errorf("%w (background of %s)", err, dir)
	}
	if err := m.GroundingBackground.check(); err != nil {
		return fmt.Errorf("%w (grounding background of %s)", err, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pseudolabel: %w", err)
	}
	if err := WriteLabelMap(filepath.Join(dir, FileGroundingMask), m.Grounding, nil); err != nil {
		return err
	}
	if err := WriteLabelMap(filepath.Join(dir, FileRefinedMasks), m.Refined, nil); err != nil {
		return err
	}
	if err := writePNG(filepath.Join(dir, FileGroundingBackground), binaryGray(m.GroundingBackground)); err != nil {
		return err
	}
	path := filepath.Join(dir, FileBackground)
	err := atomicfile.Write(path, func(wr io.Writer) error {
		return jpeg.Encode(wr, binaryGray(m.Background), &jpeg.Options{Quality: 95})
	})
	if err != nil {
		return fmt.Errorf("pseudolabel: write %s: %w", path, err)
	}
	return nil
}

// ErrMaskFile is wrapped by the errors of ReadImageMasks and ReadLabelMap
// about a missing or unusable file.
var ErrMaskFile = errors.New("bad mask file")

// readGray decodes an 8-bit grey PNG or JPEG of size w×h (w = 0: any size).
func readGray(path string, w, h int) (*image.Gray, error) {
	fail := func(format string, args ...any) (*image.Gray, error) {
		return nil, fmt.Errorf("pseudolabel: %s: %s: %w", path, fmt.Sprintf(format, args...), ErrMaskFile)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fail("missing; every image folder needs %s, %s, %s and %s (write them with WriteImageMasks or rerun the mask stage)", FileGroundingMask, FileRefinedMasks, FileBackground, FileGroundingBackground)
	}
	if err != nil {
		return nil, fmt.Errorf("pseudolabel: %w", err)
	}
	var cfg image.Config
	var decode func(io.Reader) (image.Image, error)
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
		decode = png.Decode
	case bytes.HasPrefix(data, []byte{0xff, 0xd8}):
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
		decode = jpeg.Decode
	default:
		return fail("not a PNG or JPEG file")
	}
	if err != nil {
		return fail("cannot read the header: %v", err)
	}
	if cfg.ColorModel != color.GrayModel {
		return fail("not 8-bit greyscale (colour model %T); save label maps as single-channel uint8, e.g. cv2.imwrite of a 2-D uint8 array", cfg.ColorModel)
	}
	if w > 0 && (cfg.Width != w || cfg.Height != h) {
		return fail("is %d×%d but its image is %d×%d; masks are stored at the image's full resolution", cfg.Width, cfg.Height, w, h)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxPixels/cfg.Height {
		return fail("size %d×%d out of range", cfg.Width, cfg.Height)
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return fail("cannot decode: %v; the file is damaged, regenerate it", err)
	}
	g, ok := img.(*image.Gray)
	if !ok {
		return fail("decoded as %T, not 8-bit greyscale", img)
	}
	if g.Stride != g.Rect.Dx() || g.Rect.Min != (image.Point{}) {
		g2 := image.NewGray(image.Rect(0, 0, g.Rect.Dx(), g.Rect.Dy()))
		for y := 0; y < g2.Rect.Dy(); y++ {
			copy(g2.Pix[y*g2.Stride:(y+1)*g2.Stride], g.Pix[g.PixOffset(g.Rect.Min.X, g.Rect.Min.Y+y):])
		}
		g = g2
	}
	return g, nil
}

// ReadLabelMap reads an 8-bit grey label map PNG of size w×h (w = 0
// accepts any size).
func ReadLabelMap(path string, w, h int) (LabelMap, error) {
	g, err := readGray(path, w, h)
	if err != nil {
		return LabelMap{}, err
	}
	return LabelMap{W: g.Rect.Dx(), H: g.Rect.Dy(), Pix: g.Pix}, nil
}

// ReadImageMasks reads and validates the mask-stage files of one image
// folder (externally produced masks in the §5.1 layout, e.g. from Grounded
// SAM): each must exist, be 8-bit greyscale and be w×h, the size of the
// image; errors name the file and wrap ErrMaskFile. A missing
// grounding_background.png reads as all zeros (only the official grounding
// stage writes one).
func ReadImageMasks(dir string, w, h int) (ImageMasks, error) {
	if w <= 0 || h <= 0 {
		return ImageMasks{}, fmt.Errorf("pseudolabel: image size %d×%d is not positive", w, h)
	}
	var m ImageMasks
	var err error
	if m.Grounding, err = ReadLabelMap(filepath.Join(dir, FileGroundingMask), w, h); err != nil {
		return ImageMasks{}, err
	}
	if m.Refined, err = ReadLabelMap(filepath.Join(dir, FileRefinedMasks), w, h); err != nil {
		return ImageMasks{}, err
	}
	bg, err := readGray(filepath.Join(dir, FileBackground), w, h)
	if err != nil {
		return ImageMasks{}, err
	}
	m.BackgroundGray = bg.Pix
	m.Background = NewMask(w, h)
	for i, v := range bg.Pix {
		m.Background.Pix[i] = v > 127
	}
	m.GroundingBackground = NewMask(w, h)
	gbPath := filepath.Join(dir, FileGroundingBackground)
	if _, serr := os.Stat(gbPath); serr == nil {
		gb, err := readGray(gbPath, w, h)
		if err != nil {
			return ImageMasks{}, err
		}
		for i, v := range gb.Pix {
			m.GroundingBackground.Pix[i] = v != 0
		}
	}
	return m, nil
}
