package csad

import "errors"

// loadTensorRT opens the TensorRT engine of Options.Engine for the .csad model at path.
func loadTensorRT(path string, opts Options) (runner, Header, error) {
	return nil, Header{}, errors.New("csad: the tensorrt backend is not wired yet")
}
