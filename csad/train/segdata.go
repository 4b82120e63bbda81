package train

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // background.jpg
	_ "image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/internal/npy"
)

// LoadSegData reads the segmentor's training set: the category's train/good images (sorted,
// Pillow-bilinear resized to size) and, from the pseudo-label folder masks (the official
// datasets/masks/<category> layout, docs/method.md#pseudo-labels), each image's
// filtered_cluster_map.png, refined_masks.png and background.jpg (nearest-neighbour resized) and
// info/filtered_histogram_indices.npy, the images with a good histogram. The class count is the
// columns of info/filtered_component_histogram.npy plus the background. Every missing or
// malformed file is an error naming it. Images whose path is in exclude (held out for
// validation) are left out; the pseudo-label files still index all of ds.Train.
func LoadSegData(ds *loco.Dataset, masks string, size int, exclude map[string]bool) (SegData, error) {
	d := SegData{Size: size, Description: masks}
	if len(ds.Train) == 0 {
		return d, fmt.Errorf("train: %s has no train/good images", ds.Dir)
	}
	info := filepath.Join(masks, "info")
	hist, err := npy.Read(filepath.Join(info, "filtered_component_histogram.npy"))
	if err != nil {
		return d, fmt.Errorf("train: pseudo-labels: %w (make them with 'csad pseudo-label')", err)
	}
	if len(hist.Shape) != 2 || hist.Shape[0] != len(ds.Train) {
		return d, fmt.Errorf("train: pseudo-labels: %s has shape %v, want (%d train images, classes)",
			filepath.Join(info, "filtered_component_histogram.npy"), hist.Shape, len(ds.Train))
	}
	d.Classes = int64(hist.Shape[1]) + 1
	idx, err := npy.Read(filepath.Join(info, "filtered_histogram_indices.npy"))
	if err != nil || idx.I64 == nil {
		return d, fmt.Errorf("train: pseudo-labels: good-histogram indices: %v", err)
	}
	good := map[int]bool{}
	for _, i := range idx.I64 {
		if i < 0 || int(i) >= len(ds.Train) {
			return d, fmt.Errorf("train: pseudo-labels: filtered_histogram_indices.npy names image %d of %d", i, len(ds.Train))
		}
		good[int(i)] = true
	}
	for i, s := range ds.Train {
		if exclude[s.Path] {
			continue
		}
		img, err := imageproc.Load(s.Path)
		if err != nil {
			return d, fmt.Errorf("train: %w", err)
		}
		rgb := imageproc.ResizeBilinear(img, size, size).Pix
		if !good[i] {
			d.Unsup = append(d.Unsup, rgb)
			continue
		}
		dir := filepath.Join(masks, strings.TrimSuffix(filepath.Base(s.Path), ".png"))
		var maps [3][]uint8
		for k, name := range []string{"filtered_cluster_map.png", "refined_masks.png", "background.jpg"} {
			if maps[k], err = loadGray(filepath.Join(dir, name), img.W, img.H, size); err != nil {
				return d, err
			}
		}
		for _, v := range maps[0] {
			if int64(v) >= d.Classes {
				return d, fmt.Errorf("train: %s has class %d, but the histograms have %d classes",
					filepath.Join(dir, "filtered_cluster_map.png"), v, d.Classes-1)
			}
		}
		d.Sup = append(d.Sup, SegSample{Image: rgb, Labels: maps[0], Components: maps[1], Background: maps[2]})
	}
	return d, nil
}

// loadGray reads an 8-bit single-channel map of the image's size and resizes it (nearest).
func loadGray(path string, w, h, size int) ([]uint8, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("train: pseudo-labels: %w", err)
	}
	defer f.Close()
	m, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("train: pseudo-labels: %s: %w", path, err)
	}
	b := m.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return nil, fmt.Errorf("train: pseudo-labels: %s is %d×%d, its image %d×%d", path, b.Dx(), b.Dy(), w, h)
	}
	px := make([]uint8, w*h)
	switch g := m.(type) {
	case *image.Gray:
		for y := range h {
			copy(px[y*w:(y+1)*w], g.Pix[y*g.Stride:y*g.Stride+w])
		}
	default:
		for y := range h {
			for x := range w {
				px[y*w+x] = color.GrayModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
			}
		}
	}
	return imageproc.ResizeNearestGray(px, w, h, size, size), nil
}
