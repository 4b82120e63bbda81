package train_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/metrics"
	"github.com/csad-go/csad/csad/pseudolabel"
	"github.com/csad-go/csad/csad/synth"
	"github.com/csad-go/csad/csad/train"
)

// The Patch Histogram branch trained from scratch on a synthetic category — classical
// pseudo-labels, a seeded random encoder, the CPU preset's segmentor — separates logical
// anomalies from good images on the test set, which training never reads. The AUROC is printed;
// the bar (0.75) is what this branch must reach for the fused model to be useful.
func TestPatchHistogramSeparatesLogicalAnomalies(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a segmentor (about a minute)")
	}
	root := t.TempDir()
	opt := synth.DefaultOptions()
	opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural = 24, 8, 12, 12, 1
	require.NoError(t, synth.Generate(root, "tray", opt))
	o := train.Options{Stages: train.PHStages,
		Data: filepath.Join(root, "tray"), Out: filepath.Join(root, "run"),
		Config: csad.SmallConfig(2), Seed: 42, Seg: train.DefaultSegOptions(),
		PseudoLabel: func(ctx context.Context, data, masks, _ string, seed uint64) error {
			_, err := pseudolabel.Run(ctx, pseudolabel.Options{DataRoot: filepath.Dir(data), Category: filepath.Base(data), Out: filepath.Dir(masks), Seed: seed})
			return err
		},
		Log: t.Logf,
	}
	o.Seg.Epochs, o.Seg.SupOnlyEpochs = envInt("CSAD_PH_EPOCHS", 60), 25
	start := time.Now()
	net, rep, err := train.Train(context.Background(), o)
	require.NoError(t, err)
	defer net.Close()
	fit := rep.Detector
	t.Logf("trained in %s; validation d256 %.3g±%.3g d128 %.3g±%.3g", time.Since(start).Round(time.Second), fit.HistMean, fit.HistStd, fit.QuadMean, fit.QuadStd)

	ds, err := loco.Open(o.Data)
	require.NoError(t, err)
	score := func(kind string) []float64 {
		var imgs [][]float32
		for _, s := range ds.TestOf(kind) {
			img, err := imageproc.Load(s.Path)
			require.NoError(t, err)
			imgs = append(imgs, imageproc.Preprocess(img, 256))
		}
		v, err := train.ScorePatchHist(context.Background(), net, imgs)
		require.NoError(t, err)
		return v
	}
	good, logical := score(loco.Good), score(loco.LogicalAnomalies)
	auroc, err := metrics.AUROCSplit(good, logical)
	require.NoError(t, err)
	t.Logf("patch-histogram branch alone, tray: logical AUROC %.3f (%d good, %d logical test images)", auroc, len(good), len(logical))
	if os.Getenv("CSAD_PRINT_AUROC") != "" {
		println("patch-histogram logical AUROC", auroc)
	}
	require.GreaterOrEqual(t, auroc, 0.75)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
