// Package train holds CSAD's training stages. So far: the segmentor's losses (spec §4.2) and
// one segmentor training iteration (§4.3).
//
// # Losses
//
// CrossEntropy, Focal, Dice, Hist and Entropy take logits z (B, N, H, W) float32 and, except
// Entropy, an int64 class map (B, H, W); SegLossConfig.SegLoss combines them with the official
// weights (DefaultSegLossWeights) into the objective of both training phases. Each loss
// evaluates its formula operator by operator in the official code's order and layouts, so values
// and gradients equal PyTorch's bit for bit on the same LibTorch and thread count: Adam's first
// updates are ±lr wherever a gradient is not tiny, so any difference in the last bit of a tiny
// gradient can flip a weight's update, and "close" losses would not give a reproducible run.
//
// Two official quirks are options rather than silent choices: the double softmax in the
// cross-entropy (SegLossConfig.OfficialCE, §8.2 item 4; off by default) and the class-balanced
// Dice weights computed per batch, where a class absent from the batch dominates (kept, §8.2
// item 15). The histogram target is the label map of a random good image (§8.2 item 16).
//
// # Training step
//
// SegTrainer.Step is one iteration of §4.3: frozen encoder features without gradients, the
// segmentor in training mode on the sup batch and then on the unsup batch (BatchNorm momentum
// 0.999, so the running statistics end up those of the unsup batch, §8.2 item 5), SegLoss, zero
// grad, backward, Adam (lr 0.01, L2 weight decay 1e-5).
//
// # Ownership
//
// Losses return 0-dim tensors in the youngest scope among their operands, which must belong to a
// scope (torch.NewScope); their intermediates are freed before they return, while autograd keeps
// what backward needs. Step makes and frees its own scopes: after it returns only Adam's moments
// (two per parameter, from the first step on) remain, and SegTrainer.Close frees them. The
// trainer does not own the networks.
//
// # Threads
//
// A SegTrainer is not safe for concurrent use. Bitwise agreement with PyTorch needs three things:
// the same intra-op thread count on both sides (torch.SetNumThreads), because reductions split
// their work by thread; the same OpenBLAS thread count (OPENBLAS_NUM_THREADS, read when the
// library loads; torch.set_num_threads does not reach it), because the backward of 1×1
// convolutions calls its GEMMs; and a graph built and differentiated on one OS thread, because
// LibTorch numbers autograd nodes per thread and backward sums the gradients of a shared tensor
// in that order. Step locks its goroutine to its thread for the third; the tests and the golden
// script pin both thread counts to 1.
package train
