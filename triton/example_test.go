package triton_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/csad-go/csad/triton"
)

// A 64×64 model with the three scores and one int32 map, served from ONNX Runtime.
func ExampleWrite() {
	repo, err := os.MkdirTemp("", "triton-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(repo)
	m := triton.Model{
		Name:     "breakfast_box",
		Platform: triton.PlatformONNX,
		MaxBatch: 8,
		Inputs:   []triton.Tensor{{Name: "input", DType: "float32", Dims: []int64{3, 64, 64}}},
		Outputs: []triton.Tensor{
			{Name: "score", DType: "float32"},
			{Name: "segmentation", DType: "int32", Dims: []int64{64, 64}},
		},
		PreferredBatch: []int{4, 8},
		QueueDelay:     500 * time.Microsecond,
		Data:           []byte("the .onnx bytes"),
	}
	if err := triton.Write(repo, m); err != nil {
		log.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(repo, "breakfast_box", "config.pbtxt"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(cfg))
	_, err = os.Stat(filepath.Join(repo, "breakfast_box", "1", "model.onnx"))
	fmt.Println("# 1/model.onnx written:", err == nil)
	// Output:
	// name: "breakfast_box"
	// platform: "onnxruntime_onnx"
	// max_batch_size: 8
	// input: {
	//   name: "input"
	//   data_type: TYPE_FP32
	//   dims: 3
	//   dims: 64
	//   dims: 64
	// }
	// output: {
	//   name: "score"
	//   data_type: TYPE_FP32
	//   dims: 1
	//   reshape: {}
	// }
	// output: {
	//   name: "segmentation"
	//   data_type: TYPE_INT32
	//   dims: 64
	//   dims: 64
	// }
	// dynamic_batching: {
	//   preferred_batch_size: 4
	//   preferred_batch_size: 8
	//   max_queue_delay_microseconds: 500
	// }
	// default_model_filename: "model.onnx"
	// # 1/model.onnx written: true
}
