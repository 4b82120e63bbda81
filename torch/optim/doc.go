// Package optim has the optimizers and learning-rate schedulers CSAD trains with: Adam, SGD with
// momentum and StepLR, each reproducing torch.optim's arithmetic operation by operation so that
// a Go training run follows a Python one bit for bit on the same LibTorch.
//
// Optimizers hold their moment buffers as native tensors: Close them when training ends. They
// do not own the parameters. StateDict/LoadStateDict use torch.optim's layout, so optimizer state
// moves between Go and Python through checkpoint.SaveFile / checkpoint.LoadFile.
package optim
