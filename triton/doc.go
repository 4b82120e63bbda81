// Package triton writes a model into a Triton Inference Server model repository: the model's
// folder with its config.pbtxt (a ModelConfig of Triton's published model_config.proto, as
// text) and version 1 holding model.onnx (platform onnxruntime_onnx) or model.plan
// (tensorrt_plan, a serialized TensorRT engine).
//
// A Triton that polls the repository may read it at any moment, so nothing is ever half
// written: the version folder is built beside the old one and swapped in with one rename, and
// config.pbtxt is replaced atomically (internal/atomicfile). The package is pure Go (no
// LibTorch), so it also serves tools that only lay out a repository.
//
// Every tensor is batched along a leading axis that Model.Inputs and Model.Outputs leave out,
// as Triton's dims do; max_batch_size is at least 1 and dynamic batching is on.
package triton
