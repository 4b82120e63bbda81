package report

import (
	"fmt"
	"image"
	"image/color"
	imgdraw "image/draw"
	"image/png"
	"io"
	"math"
	"slices"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/metrics"
	"github.com/csad-go/csad/csad/tiffmap"
	"github.com/csad-go/csad/internal/atomicfile"
)

var splits = []string{loco.LogicalAnomalies, loco.StructuralAnomalies}

var branchColour = map[string]color.Color{
	"score":      color.RGBA{200, 30, 30, 255},
	"lgst":       color.RGBA{30, 90, 200, 255},
	"patch_hist": color.RGBA{30, 150, 60, 255},
}

func values(test []scored, b, typ string) []float64 {
	var v []float64
	for _, t := range test {
		if t.DefectType == typ {
			v = append(v, *t.rec.value(b))
		}
	}
	return v
}

// plotROC draws one ROC panel per split, one curve per score branch.
func plotROC(p string, test []scored, sum *Summary) error {
	var panels []*plot.Plot
	for _, sp := range splits {
		pl := plot.New()
		pl.Title.Text = "ROC: " + sp
		pl.X.Label.Text = "false positive rate"
		pl.Y.Label.Text = "true positive rate"
		pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = 0, 1, 0, 1
		diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
		if err != nil {
			return err
		}
		diag.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		diag.Color = color.Gray{160}
		pl.Add(diag)
		for _, b := range branches {
			a, ok := sum.AUROC[b]
			if !ok {
				continue
			}
			fpr, tpr := metrics.ROCCurve(values(test, b, loco.Good), values(test, b, sp))
			xy := make(plotter.XYs, len(fpr))
			for i := range fpr {
				xy[i].X, xy[i].Y = fpr[i], tpr[i]
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return fmt.Errorf("report: roc %s: %w", b, err)
			}
			l.Color = branchColour[b]
			l.Width = vg.Points(1.5)
			pl.Add(l)
			pl.Legend.Add(fmt.Sprintf("%s (AUROC %.3f)", b, 100*a[sp]), l)
		}
		pl.Legend.Top = false
		pl.Legend.Left = false
		panels = append(panels, pl)
	}
	return savePanels(p, panels, 5*vg.Inch, 5*vg.Inch)
}

// plotHist draws one histogram panel per split: good test images against the
// split's anomalies, on common bins, for the final score.
func plotHist(p string, test []scored) error {
	var panels []*plot.Plot
	for _, sp := range splits {
		good := values(test, "score", loco.Good)
		bad := values(test, "score", sp)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range slices.Concat(good, bad) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if hi <= lo {
			hi = lo + 1
		}
		const nbins = 20
		pl := plot.New()
		pl.Title.Text = "scores: good vs " + sp
		pl.X.Label.Text = "image score"
		pl.Y.Label.Text = "images"
		for _, s := range []struct {
			name string
			v    []float64
			c    color.NRGBA
		}{{"good", good, color.NRGBA{40, 110, 220, 110}}, {sp, bad, color.NRGBA{220, 50, 40, 110}}} {
			bins := make([]plotter.HistogramBin, nbins)
			w := (hi - lo) / nbins
			for i := range bins {
				bins[i].Min, bins[i].Max = lo+float64(i)*w, lo+float64(i+1)*w
			}
			for _, v := range s.v {
				i := min(int((v-lo)/w), nbins-1)
				bins[i].Weight++
			}
			h := &plotter.Histogram{Bins: bins, Width: w, FillColor: s.c, LineStyle: plotter.DefaultLineStyle}
			h.LineStyle.Color = color.NRGBA{s.c.R, s.c.G, s.c.B, 255}
			pl.Add(h)
			pl.Legend.Add(s.name, h)
		}
		pl.Legend.Top = true
		panels = append(panels, pl)
	}
	return savePanels(p, panels, 5*vg.Inch, 3.5*vg.Inch)
}

// savePanels lays out plots side by side in one PNG.
func savePanels(p string, panels []*plot.Plot, w, h vg.Length) error {
	rows := [][]*plot.Plot{panels}
	img := vgimg.New(vg.Length(len(panels))*w, h)
	dc := draw.New(img)
	t := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}
	canv := plot.Align(rows, t, dc)
	for j := range panels {
		panels[j].Draw(canv[0][j])
	}
	err := atomicfile.Write(p, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("report: %s: %w", p, err)
	}
	return nil
}

// worstCases picks the anomalous images with the lowest scores (misses) and
// the good images with the highest (false alarms), half each.
func worstCases(test []scored, n int) []scored {
	var good, bad []scored
	for _, t := range test {
		if t.Label == 0 {
			good = append(good, t)
		} else {
			bad = append(bad, t)
		}
	}
	slices.SortStableFunc(good, func(a, b scored) int { return cmpF(*b.rec.Score, *a.rec.Score) })
	slices.SortStableFunc(bad, func(a, b scored) int { return cmpF(*a.rec.Score, *b.rec.Score) })
	nb := min(len(bad), (n+1)/2)
	ng := min(len(good), n-nb)
	return slices.Concat(bad[:nb], good[:ng])
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// worstGrid writes the overlays of the worst cases: image, heat map in the
// jet palette scaled over all test maps, ground-truth outline in white,
// and the image path.
func worstGrid(p string, ds *loco.Dataset, worst []scored, maps map[string]*tiffmap.Map) error {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range maps {
		for _, v := range m.Pix {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	const tileW, cols, label = 256, 4, 16
	var tiles []*image.RGBA
	tileH := 0
	for _, w := range worst {
		img, err := loco.LoadImage(w.Path)
		if err != nil {
			return err
		}
		m := maps[w.Rel]
		var gt []bool
		if w.Label == 1 {
			g, err := ds.GroundTruth(w.Sample)
			if err != nil {
				return err
			}
			gt = g.Union()
		}
		th := tileW * m.Height / m.Width
		tileH = max(tileH, th)
		tile := image.NewRGBA(image.Rect(0, 0, tileW, th))
		for y := 0; y < th; y++ {
			sy := y * m.Height / th
			for x := 0; x < tileW; x++ {
				sx := x * m.Width / tileW
				r, g, b, _ := img.At(img.Bounds().Min.X+sx, img.Bounds().Min.Y+sy).RGBA()
				t := (float64(m.Pix[sy*m.Width+sx]) - lo) / (hi - lo)
				hc := jet(t)
				const a = 0.5
				c := color.RGBA{
					uint8(float64(r>>8)*(1-a) + float64(hc.R)*a),
					uint8(float64(g>>8)*(1-a) + float64(hc.G)*a),
					uint8(float64(b>>8)*(1-a) + float64(hc.B)*a), 255}
				if gt != nil && edge(gt, m.Width, m.Height, sx, sy) {
					c = color.RGBA{255, 255, 255, 255}
				}
				tile.SetRGBA(x, y, c)
			}
		}
		tiles = append(tiles, tile)
	}
	rows := (len(tiles) + cols - 1) / cols
	out := image.NewRGBA(image.Rect(0, 0, cols*tileW, max(rows, 1)*(tileH+label)))
	imgdraw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, imgdraw.Src)
	for i, t := range tiles {
		x0, y0 := (i%cols)*tileW, (i/cols)*(tileH+label)
		imgdraw.Draw(out, t.Bounds().Add(image.Pt(x0, y0+label)), t, image.Point{}, imgdraw.Src)
		d := font.Drawer{Dst: out, Src: image.NewUniform(color.Black), Face: basicfont.Face7x13,
			Dot: fixed.P(x0+3, y0+12)}
		d.DrawString(fmt.Sprintf("%s %.3g", worst[i].Rel[len("test/"):], *worst[i].rec.Score))
	}
	return savePNG(p, out)
}

// edge reports whether (x, y) is a ground-truth pixel next to a background
// pixel, sampled at the tile's stride.
func edge(m []bool, w, h, x, y int) bool {
	if !m[y*w+x] {
		return false
	}
	for _, d := range [][2]int{{-2, 0}, {2, 0}, {0, -2}, {0, 2}} {
		xx, yy := x+d[0], y+d[1]
		if xx < 0 || yy < 0 || xx >= w || yy >= h || !m[yy*w+xx] {
			return true
		}
	}
	return false
}

// jet maps t in [0,1] to the classic blue–cyan–yellow–red palette.
func jet(t float64) color.RGBA {
	t = math.Max(0, math.Min(1, t))
	f := func(c float64) uint8 { return uint8(255 * math.Max(0, math.Min(1, 1.5-math.Abs(4*t-c)))) }
	return color.RGBA{f(3), f(2), f(1), 255}
}

func savePNG(p string, img image.Image) error {
	if err := atomicfile.Write(p, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("report: %s: %w", p, err)
	}
	return nil
}
