// Package onnx writes and reads ONNX models without Python: a small graph builder over the
// protocol buffer types of internal/onnxpb (generated from the onnx.proto that Debian's
// python3-onnx 1.12 ships, IR version 8, opsets up to 17), and Inspect, which parses a model
// file and checks it before anything trusts it.
//
// # Building
//
// A Graph collects inputs, initializers (from float32 data, stored as float32 or converted to
// float16, or int64), nodes, value infos and outputs. Every name must be defined before a node
// reads it, so nodes come out in a valid topological order and a typo is an error at build time
// rather than a model that ONNX Runtime refuses later. The first error sticks: the builder calls
// can be chained without checks and Marshal reports it.
//
//	g := onnx.NewGraph("tiny")
//	x := g.Input("x", onnx.Float32, onnx.Shape{onnx.Sym("batch"), onnx.Dim(4)})
//	y := g.NodeNamed("y", "Relu", []string{x})
//	g.Output(y, onnx.Float32, onnx.Shape{onnx.Sym("batch"), onnx.Dim(4)})
//	data, err := g.Marshal(onnx.ModelInfo{Opset: 17, Producer: "me"})
//
// Marshal is deterministic: the same graph gives the same bytes (protobuf's deterministic
// encoding, metadata sorted by key), so exported files can be compared by digest.
//
// # Reading
//
// Inspect parses a model and returns its opsets, inputs, outputs and metadata. Truncated or
// corrupt bytes are an error that says so; a model that parses but is inconsistent (a node that
// reads an undefined value, an initializer whose data does not fill its shape, a missing opset
// import, as a file cut at a field boundary has) is an error naming what is wrong.
//
// # Threading
//
// A Graph is not safe for concurrent use; Inspect is.
package onnx
