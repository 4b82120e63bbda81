package checkpoint_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/csad-go/csad/torch/checkpoint"
)

func Example() {
	// A state dict with one float32 parameter, saved the way torch.save would.
	w := &checkpoint.Tensor{DType: checkpoint.Float32, Shape: []int64{2}, Data: make([]byte, 8)}
	binary.LittleEndian.PutUint32(w.Data[0:], math.Float32bits(0.5))
	binary.LittleEndian.PutUint32(w.Data[4:], math.Float32bits(-1))
	fc := &checkpoint.Dict{}
	fc.Set("weight", w)
	sd := &checkpoint.Dict{}
	sd.Set("fc", fc)

	var buf bytes.Buffer
	if err := checkpoint.Save(&buf, sd); err != nil {
		fmt.Println(err)
		return
	}
	v, err := checkpoint.Load(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		fmt.Println(err)
		return
	}
	named, err := checkpoint.Flatten(v)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range named {
		x := n.Tensor.Data
		fmt.Println(n.Name, n.Tensor.DType, n.Tensor.Shape,
			math.Float32frombits(binary.LittleEndian.Uint32(x)), math.Float32frombits(binary.LittleEndian.Uint32(x[4:])))
	}
	// Output:
	// fc.weight float32 [2] 0.5 -1
}

func ExampleFlatten() {
	// state_dict.pt is torch.save(net.state_dict()) of a small conv net.
	v, err := checkpoint.LoadFile("../../testdata/checkpoint/state_dict.pt")
	if err != nil {
		fmt.Println(err)
		return
	}
	named, err := checkpoint.Flatten(v)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range named {
		fmt.Println(n.Name, n.Tensor.DType, n.Tensor.Shape)
	}
	// Output:
	// conv1.weight float32 [2 1 3 3]
	// conv1.bias float32 [2]
	// bn1.weight float32 [2]
	// bn1.bias float32 [2]
	// bn1.running_mean float32 [2]
	// bn1.running_var float32 [2]
	// bn1.num_batches_tracked int64 []
	// fc.weight float32 [3 2]
	// fc.bias float32 [3]
}

func ExampleLoad_errors() {
	// Errors say what is wrong with the input; they never panic.
	_, err := checkpoint.Load(bytes.NewReader([]byte("not a checkpoint")), 16)
	fmt.Println(err)
	// Output:
	// checkpoint: load: not a torch.save zip archive (starts with "not ", want "PK\x03\x04")
}
