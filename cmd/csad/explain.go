package main

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/pseudolabel"
	"github.com/csad-go/csad/csad/report"
	"github.com/csad-go/csad/internal/atomicfile"
)

// explainImages picks the test images whose patch-histogram view is worth showing: the logical
// anomalies the branch scores highest (what it sees), the ones it scores lowest (what it misses),
// and the good image it scores highest (its worst false alarm).
func explainImages(recs []report.Record) []report.Record {
	var logical, good []report.Record
	for _, r := range recs {
		if r.PatchHist == nil {
			continue
		}
		switch {
		case strings.Contains(filepath.ToSlash(r.Path), "/logical_anomalies/"):
			logical = append(logical, r)
		case strings.Contains(filepath.ToSlash(r.Path), "/good/"):
			good = append(good, r)
		}
	}
	byPH := func(a, b report.Record) int {
		switch {
		case *a.PatchHist > *b.PatchHist:
			return -1
		case *a.PatchHist < *b.PatchHist:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(logical, byPH)
	slices.SortStableFunc(good, byPH)
	var out []report.Record
	out = append(out, logical[:min(3, len(logical))]...)
	if len(logical) > 3 {
		out = append(out, logical[max(3, len(logical)-2):]...)
	}
	return append(out, good[:min(1, len(good))]...)
}

// appendExplanations adds to report.md, for the chosen images, the segmentation overlay and the
// class areas that move the patch-histogram distances most, with their share of the distance.
func appendExplanations(ctx context.Context, modelPath, device, out string, recs []report.Record) error {
	m, err := csad.Load(modelPath, csad.Options{Device: device})
	if err != nil {
		return err
	}
	defer m.Close()
	var b strings.Builder
	b.WriteString("\n## Where the Patch Histogram branch sees the anomaly\n\n")
	b.WriteString("For the logical anomalies the branch scores highest and lowest, and the good image it scores highest: the component segmentation (colour per class over the image) and the class areas, whole image or quadrant, that deviate most from the training images, with their share of the squared Mahalanobis distance of that detector.\n")
	for i, r := range explainImages(recs) {
		img, err := imageproc.Load(r.Path)
		if err != nil {
			return err
		}
		e, err := m.ExplainPatchHist(ctx, img)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("explain_%d.png", i+1)
		size := int(m.Header().Config.ImageSize)
		if err := imageproc.WritePNG(filepath.Join(out, name), segmentationOverlay(img, e.Segmentation, size)); err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n### `%s` (patch-histogram score %.3f; d256 %.3f, d128 %.3f)\n\n![segmentation](%s)\n\n", r.Path, *r.PatchHist, e.D256, e.D128, name)
		b.WriteString("| detector | region | class | area | training mean | share of d² |\n|---|---|---:|---:|---:|---:|\n")
		for _, part := range []struct {
			name string
			cs   []csad.Contribution
		}{{"whole image", e.Whole}, {"quadrants", e.Quadrants}} {
			for _, c := range part.cs[:min(3, len(part.cs))] {
				fmt.Fprintf(&b, "| %s | %s | %d | %.4f | %.4f | %.0f %% |\n", part.name, c.Region, c.Class, c.Area, c.TrainMean, 100*c.Share)
			}
		}
	}
	p := filepath.Join(out, "report.md")
	old, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return atomicfile.WriteFile(p, append(old, b.String()...))
}

// segmentationOverlay draws the class map over the image resized to the network input.
func segmentationOverlay(img *imageproc.RGB, seg []uint8, size int) image.Image {
	small := imageproc.ResizeBilinear(img, size, size)
	out := image.NewRGBA(image.Rect(0, 0, size, size))
	for i, v := range seg {
		r, g, bl := small.Pix[3*i], small.Pix[3*i+1], small.Pix[3*i+2]
		c := color.RGBA{r, g, bl, 255}
		if v != 0 {
			k := pseudolabel.ClassColor(v)
			c = color.RGBA{uint8((int(r) + int(k.R)) / 2), uint8((int(g) + int(k.G)) / 2), uint8((int(bl) + int(k.B)) / 2), 255}
		}
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = c.R, c.G, c.B, c.A
	}
	return out
}
