package train_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/synth"
	"github.com/csad-go/csad/csad/train"
	"github.com/csad-go/csad/internal/npy"
	"github.com/csad-go/csad/torch/torchtest"
)

// thresholdLabels is a stand-in pseudo-labeller for testing the stage mechanics: pixels far from
// the top-left corner's colour are class 1, everything else background; every image counts as
// having a good histogram.
func thresholdLabels(_ context.Context, data, masks, _ string, _ uint64) error {
	files, err := filepath.Glob(filepath.Join(data, "train", "good", "*.png"))
	if err != nil {
		return err
	}
	hist := make([]float64, 0, len(files))
	var idx []int64
	for i, f := range files {
		img, err := imageproc.Load(f)
		if err != nil {
			return err
		}
		lab := image.NewGray(image.Rect(0, 0, img.W, img.H))
		bg := image.NewGray(lab.Rect)
		c := img.Pix[:3]
		fg := 0
		for p := 0; p < img.W*img.H; p++ {
			d := 0
			for k := range 3 {
				v := int(img.Pix[3*p+k]) - int(c[k])
				d += v * v
			}
			if d > 900 {
				lab.Pix[p], fg = 1, fg+1
			} else {
				bg.Pix[p] = 255
			}
		}
		dir := filepath.Join(masks, strings.TrimSuffix(filepath.Base(f), ".png"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for _, name := range []string{"filtered_cluster_map.png", "refined_masks.png"} {
			if err := imageproc.WritePNG(filepath.Join(dir, name), lab); err != nil {
				return err
			}
		}
		if err := writeJPEGGray(filepath.Join(dir, "background.jpg"), bg); err != nil {
			return err
		}
		hist = append(hist, float64(fg)/float64(img.W*img.H))
		idx = append(idx, int64(i))
	}
	info := filepath.Join(masks, "info")
	if err := os.MkdirAll(info, 0o755); err != nil {
		return err
	}
	if err := npy.Write(filepath.Join(info, "filtered_component_histogram.npy"), npy.Array{Shape: []int{len(files), 1}, F64: hist}); err != nil {
		return err
	}
	return npy.Write(filepath.Join(info, "filtered_histogram_indices.npy"), npy.Array{Shape: []int{len(idx)}, I64: idx})
}

func writeJPEGGray(path string, g *image.Gray) error {
	// The stage reads any 8-bit grey image; PNG content under the .jpg name is decoded by
	// content, like a real JPEG, and keeps the test free of compression noise.
	m := image.NewGray(g.Rect)
	copy(m.Pix, g.Pix)
	_ = color.Gray{}
	return imageproc.WritePNG(path, m)
}

// The training stages run from files to files: a complete run writes model.csad, whose fused
// scores csad.Load reproduces exactly on the validation images (the model file carries
// everything); a second run with the same options skips every stage that has a manifest.
func TestTrainStages(t *testing.T) {
	root := t.TempDir()
	opt := synth.DefaultOptions()
	opt.Width, opt.Height = 128, 96
	opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural = 6, 3, 1, 1, 1
	require.NoError(t, synth.Generate(root, "tray", opt))
	var logs []string
	o := train.Options{
		Data: filepath.Join(root, "tray"), Out: filepath.Join(root, "run"),
		Config: csad.SmallConfig(2), Seed: 7, Seg: train.DefaultSegOptions(), LGST: train.DefaultLGSTOptions(),
		PseudoLabel: thresholdLabels,
		Log:         func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) },
	}
	o.Seg.Epochs, o.Seg.SupOnlyEpochs, o.Seg.Batch = 2, 1, 2
	o.LGST.Train.Iterations = 3
	net, rep, err := train.Train(context.Background(), o)
	require.NoError(t, err)
	net.Close()
	require.Equal(t, 6, rep.Detector.Train)
	require.Equal(t, 3, rep.Detector.Validation)
	require.Len(t, rep.Fusion.Scores, 3)

	m, err := csad.Load(filepath.Join(o.Out, train.ModelFile), csad.Options{})
	require.NoError(t, err)
	defer m.Close()
	h := m.Header()
	require.NotNil(t, h.Threshold)
	require.Equal(t, rep.Fusion.Threshold, *h.Threshold)
	ds, err := loco.Open(o.Data)
	require.NoError(t, err)
	for i, s := range ds.Validation {
		img, err := imageproc.Load(s.Path)
		require.NoError(t, err)
		r, err := m.Score(context.Background(), img)
		require.NoError(t, err)
		require.Equal(t, rep.Fusion.Scores[i], r.Score, "validation image %d: the model file scores differently from training", i)
		require.Equal(t, r.Score > *h.Threshold, r.Anomalous)
	}

	// The same seed gives the same model: weights bit for bit, header apart from the time.
	o2 := o
	o2.Out = filepath.Join(root, "run2")
	net, _, err = train.Train(context.Background(), o2)
	require.NoError(t, err)
	net.Close()
	sameModel(t, filepath.Join(o.Out, train.ModelFile), filepath.Join(o2.Out, train.ModelFile))

	logs = nil
	net, _, err = train.Train(context.Background(), o)
	require.NoError(t, err)
	net.Close()
	joined := strings.Join(logs, "\n")
	for _, st := range []string{train.StagePseudoLabels, train.StageSegmentor, train.StageLGST} {
		require.Contains(t, joined, st+": up to date")
	}
}

// sameModel asserts two model files hold identical tensors and headers (creation time aside).
func sameModel(t *testing.T, a, b string) {
	t.Helper()
	ma, mb := torchtest.SameTensorFiles(t, a, b)
	var ha, hb csad.Header
	require.NoError(t, json.Unmarshal([]byte(ma["csad"]), &ha))
	require.NoError(t, json.Unmarshal([]byte(mb["csad"]), &hb))
	ha.Provenance.Created, hb.Provenance.Created = "", ""
	require.NotEmpty(t, ha.Training)
	ha.Training, hb.Training = nil, nil // holds the run folder, which differs
	require.Equal(t, ha, hb)
}
