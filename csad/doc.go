// Package csad is the CSAD method (unsupervised component segmentation for logical anomaly
// detection, BMVC 2024) on csad-go's LibTorch binding: the unified scorer of the official export
// (WideResNet-50-2 encoder, local–global student–teacher branch, component segmentor and
// patch-histogram detector, fused by z-normalised scores), its model files, and the import of the
// official checkpoints. Subpackages hold the data set reader (loco), the synthetic data generator
// (synth), image preprocessing (imageproc), metrics, reports and TIFF maps.
//
// # Use from control software
//
//	m, err := csad.Load("breakfast_box.csad", csad.Options{Threads: 2})
//	if err != nil { ... }
//	defer m.Close()
//	r, err := m.Score(ctx, img) // r.Score, r.AnomalyMap, r.Segmentation, ...
//
// A Model is safe for concurrent use by many goroutines; each call frees everything it allocated
// before returning, so memory stays flat over millions of calls. Options.MaxInFlight bounds the
// forward passes that run at once (the rest wait in arrival order), and Options.GatherBatch lets
// the single images that wait share a pass (with Fast or another backend):
//
//	m, err := csad.Load("tray.csad", csad.Options{Fast: true, GatherBatch: 8})
//	// in each camera's goroutine
//	r, err := m.Score(ctx, frame)
//
// # Numerics
//
// By default every operator runs as PyTorch runs the official model, and results are bit for bit
// those of Python on the same LibTorch. Options.Fast trades the last bits (and, at a near-tie,
// a few segmentation pixels) for about 1.3× the speed (see Network.UseChannelsLast). On a CPU
// with bfloat16 arithmetic, Options.BFloat16 with Fast runs the student and the autoencoder in
// bfloat16 for about 1.7× fast mode's speed; its segmentation stays float32 fast mode's, and the
// LGST score moves by bfloat16's rounding, about 0.2–0.8 % (Network.UseBFloat16).
package csad
