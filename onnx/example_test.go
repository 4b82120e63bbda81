package onnx_test

import (
	"fmt"

	"github.com/csad-go/csad/onnx"
)

// A one-node model (y = ReLU(x + b) with b an initializer), written and read back.
func Example() {
	g := onnx.NewGraph("tiny")
	x := g.Input("x", onnx.Float32, onnx.Shape{onnx.Sym("batch"), onnx.Dim(3)})
	b := g.Float32Tensor("b", []int64{3}, []float32{1, -2, 0.5})
	s := g.Node("Add", []string{x, b})
	y := g.NodeNamed("y", "Relu", []string{s})
	g.ValueInfo(s, onnx.Float32, onnx.Shape{onnx.Sym("batch"), onnx.Dim(3)})
	g.Output(y, onnx.Float32, onnx.Shape{onnx.Sym("batch"), onnx.Dim(3)})
	data, err := g.Marshal(onnx.ModelInfo{Opset: 17, Producer: "example", Metadata: map[string]string{"note": "hello"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	info, err := onnx.Inspect(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ir", info.IRVersion, "opset", info.Opset(), "producer", info.Producer)
	for _, v := range info.Inputs {
		fmt.Println("input", v.Name, v.DType, v.Shape)
	}
	for _, v := range info.Outputs {
		fmt.Println("output", v.Name, v.DType, v.Shape)
	}
	fmt.Println("nodes", info.Ops, "metadata", info.Metadata)
	_, err = onnx.Inspect(data[:len(data)/2])
	fmt.Println(err != nil)
	// Output:
	// ir 8 opset 17 producer example
	// input x float32 (batch, 3)
	// output y float32 (batch, 3)
	// nodes map[Add:1 Relu:1] metadata map[note:hello]
	// true
}
