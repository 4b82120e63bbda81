package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/csad-go/csad/csad/augment"
	"github.com/csad-go/csad/csad/imageproc"
)

// AugImage is the LGST training set's aug_image (§1.4): one colour jitter of augment.ColorJitter
// (official: brightness, contrast or saturation, factor in [0.8, 1.2]) on the full-resolution
// image, then the §1.2 preprocessing to size×size (Pillow bilinear resize, ImageNet
// normalisation). It returns the (3, size, size) network input and the jitter drawn.
func AugImage(r *rand.Rand, img *imageproc.RGB, size int, o augment.ColorJitterOptions) ([]float32, augment.JitterParams, error) {
	if img == nil {
		return nil, augment.JitterParams{}, errors.New("train: aug_image of a nil image")
	}
	if size < 1 {
		return nil, augment.JitterParams{}, fmt.Errorf("train: aug_image size %d must be positive", size)
	}
	pix, p, err := augment.ColorJitter(r, img.Pix, img.W, img.H, o)
	if err != nil {
		return nil, p, fmt.Errorf("train: aug_image: %w", err)
	}
	return imageproc.Normalize(imageproc.ResizeBilinear(&imageproc.RGB{W: img.W, H: img.H, Pix: pix}, size, size)), p, nil
}

// PenaltyGreyP is the probability with which a penalty image is turned grey (torchvision's
// RandomGrayscale(p=0.3) in the official penalty transform).
const PenaltyGreyP = 0.3

// penaltyExts are the file types LoadPenaltyImages reads (imageproc decodes PNG and JPEG).
var penaltyExts = []string{".png", ".jpg", ".jpeg"}

// PenaltySet holds the natural images of the student's penalty loss (§1.4), already resized
// and cropped: the deterministic part of the official transform is done once at load, the
// random grey conversion at every draw. Each image costs 3·Size² bytes.
type PenaltySet struct {
	Size  int
	Paths []string // the files, sorted, in the order of the images
	crops []*imageproc.RGB
}

// LoadPenaltyImages reads every PNG and JPEG file directly in dir (sorted by name; other files
// and folders are ignored) and prepares each as the official penalty transform does up to its
// random step: Pillow bilinear resize of the whole image to 2·size × 2·size, then the central
// size × size crop (torchvision's CenterCrop: offset round((2·size − size)/2), halves to even).
// The official grey conversion happens before the crop; it works pixel by pixel, so converting
// the crop (PenaltySet.Image) gives the same bytes. The official source, Tiny ImageNet, is not
// downloadable at run time: any folder of natural images serves.
func LoadPenaltyImages(dir string, size int) (*PenaltySet, error) {
	if size < 1 || size > math.MaxInt16/2 {
		return nil, fmt.Errorf("train: penalty image size %d must lie in 1..%d", size, math.MaxInt16/2)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("train: penalty images: %w", err)
	}
	set := &PenaltySet{Size: size}
	for _, e := range entries { // ReadDir sorts by name
		if e.IsDir() || !slices.Contains(penaltyExts, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		img, err := imageproc.Load(path)
		if err != nil {
			return nil, fmt.Errorf("train: penalty images: %w", err)
		}
		set.Paths = append(set.Paths, path)
		set.crops = append(set.crops, centreCrop(imageproc.ResizeBilinear(img, 2*size, 2*size), size))
	}
	if len(set.crops) == 0 {
		return nil, fmt.Errorf("train: penalty image folder %s has no PNG or JPEG file; put natural images there (the official code uses Tiny ImageNet's training split)", dir)
	}
	return set, nil
}

// centreCrop is torchvision's CenterCrop(size) of an image at least size on each side.
func centreCrop(img *imageproc.RGB, size int) *imageproc.RGB {
	top := int(math.RoundToEven(float64(img.H-size) / 2))
	left := int(math.RoundToEven(float64(img.W-size) / 2))
	out := imageproc.NewRGB(size, size)
	for y := range size {
		src := img.Pix[3*((top+y)*img.W+left):]
		copy(out.Pix[3*y*size:3*(y+1)*size], src[:3*size])
	}
	return out
}

// Len is the number of images.
func (p *PenaltySet) Len() int { return len(p.crops) }

// Image returns image i as the network input (3, Size, Size): grey (Pillow luma in all three
// channels) with probability PenaltyGreyP, drawn from r, then ImageNet-normalised.
func (p *PenaltySet) Image(r *rand.Rand, i int) ([]float32, error) {
	if r == nil {
		return nil, errors.New("train: penalty image: nil *rand.Rand; pass rand.New(rand.NewPCG(seed, stream))")
	}
	return p.Render(i, r.Float64() < PenaltyGreyP)
}

// Render returns image i in colour or grey without a random draw.
func (p *PenaltySet) Render(i int, grey bool) ([]float32, error) {
	if i < 0 || i >= len(p.crops) {
		return nil, fmt.Errorf("train: penalty image %d of %d", i, len(p.crops))
	}
	img := p.crops[i]
	if grey {
		l, err := augment.Luma(img.Pix, img.W, img.H)
		if err != nil {
			return nil, fmt.Errorf("train: penalty image: %w", err)
		}
		g := imageproc.NewRGB(img.W, img.H)
		for j, v := range l {
			g.Pix[3*j], g.Pix[3*j+1], g.Pix[3*j+2] = v, v, v
		}
		img = g
	}
	return imageproc.Normalize(img), nil
}
