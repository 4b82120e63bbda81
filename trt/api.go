package trt

// The API is the same with and without the tensorrt build tag: trt_tensorrt.go implements it
// on TensorRT, trt_stub.go returns ErrNotBuilt from every entry point. These assignments make
// either build fail to compile if the two drift apart.
var (
	_ func([]byte, BuildOptions) (*Built, error) = Build
	_ func(string, LoadOptions) (*Engine, error) = Load
	_ func([]byte, LoadOptions) (*Engine, error) = LoadBytes
	_ func(int) (Runtime, error)                 = Probe
	_ interface {
		Header() Header
		Inputs() []TensorInfo
		Outputs() []TensorInfo
		Profile() Profile
		Log() string
		NewContext() (*Context, error)
		Run(input []float32, batch int) (map[string]Output, error)
		Close() error
	} = (*Engine)(nil)
	_ interface {
		Run(input []float32, batch int) (map[string]Output, error)
		Close() error
	} = (*Context)(nil)
	_ bool = Enabled
)
