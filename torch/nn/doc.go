// Package nn has PyTorch's module abstraction for Go: parameters, buffers and children with the
// names torch.nn.Module gives them (so state dicts move between Go and Python unchanged), train
// and eval modes, strict state-dict loading with a precise error, and the layers Conv2d,
// BatchNorm2d, Linear, Dropout, ReLU and Sequential, initialised as PyTorch initialises them.
//
// A module owns its parameters and buffers: Close(layer) frees them. Build your own layer by
// embedding Module and registering tensors and children in the constructor:
//
//	type Block struct {
//		nn.Module
//		Conv *nn.Conv2d
//	}
//
//	func NewBlock() *Block {
//		b := &Block{}
//		b.Conv = nn.RegisterModule(&b.Module, "conv", nn.NewConv2d(3, 8, 3, nn.Conv2dConfig{Padding: 1}))
//		return b
//	}
//
// Forward passes only read parameters (BatchNorm in training mode also updates its running
// statistics), so a module in evaluation mode may serve many goroutines at once.
package nn
