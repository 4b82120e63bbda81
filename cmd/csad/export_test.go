package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/internal/onnxpb"
	"github.com/csad-go/csad/internal/tritonpb"
	"github.com/csad-go/csad/trt"
)

// exportModel writes a small-preset .csad model of category "breakfast box" (the space makes
// the default Triton name differ from the category). Its weights are zero: the tests check
// files and layouts, not scores.
func exportModel(t *testing.T) string {
	t.Helper()
	net, err := csad.NewNetwork(csad.SmallConfig(5))
	require.NoError(t, err)
	defer net.Close()
	h, err := csad.NewHeader(net, "breakfast box", csad.Provenance{Tool: "export_test"})
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "bb.csad")
	require.NoError(t, csad.SaveModel(p, net, h))
	return p
}

// TestExportFlags: every bad flag combination is refused, naming the flag, before the model is
// loaded (the model path does not exist).
func TestExportFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	const m = "never-loaded.csad"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-model", m, "-format", "tflite"}, `export: -format "tflite": want onnx or triton`},
		{[]string{"-format", "triton", "-out", dir}, "export: -model is required"},
		{[]string{"-model", m, "-opset", "12"}, "export: -opset 12 is out of range: want 13..17"},
		{[]string{"-model", m, "-opset", "18"}, "export: -opset 18 is out of range: want 13..17"},
		{[]string{"-model", m, "-max-batch", "4"}, "export: -max-batch is for -format triton"},
		{[]string{"-model", m, "-name", "x"}, "export: -name is for -format triton"},
		{[]string{"-model", m, "-engine", "x.plan"}, "export: -engine is for -format triton"},
		{[]string{"-model", m, "-out", dir}, "export: -out " + dir + " is a folder; give the .onnx file"},
		{[]string{"-model", m, "-format", "triton"}, "export: -format triton needs -out REPOSITORY"},
		{[]string{"-model", m, "-format", "triton", "-out", file}, "export: -out " + file + " is a file; give the model repository's folder"},
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-max-batch", "0"}, "export: -max-batch 0 is out of range: want 1..256"},
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-max-batch", "-3"}, "export: -max-batch -3 is out of range"},
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-max-batch", "257"}, "export: -max-batch 257 is out of range"},
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-name", "a/b"}, `triton: bad model name "a/b"`},
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-name", ".x"}, `triton: bad model name ".x"`},
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-engine", file, "-opset", "17"}, "export: -opset does not apply to -engine"},
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-engine", file, "-fp16"}, "export: -fp16 does not apply to -engine"},
		{[]string{"-model", m, "extra"}, `unknown command "extra"`},
		{[]string{"-model", m, "-preferred-batch", "4"}, "export: -preferred-batch is for -format triton"},
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-queue-delay", "-1ms"}, "export: -queue-delay -1ms: want whole microseconds"},
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-queue-delay", "1500ns"}, "export: -queue-delay 1.5µs: want whole microseconds"},
		// The flags pass: the model is loaded, and its absence is the error.
		{[]string{"-model", m, "-format", "triton", "-out", dir, "-engine", file, "-maps=false"}, "csad: load model " + m},
		{[]string{"-model", m}, "csad: load model " + m},
	} {
		out, _, err := execInProcess(newExportCmd, c.args...)
		assert.Empty(t, out, "%v", c.args)
		if assert.Error(t, err, "%v", c.args) {
			assert.True(t, strings.HasPrefix(err.Error(), c.want), "%v: error %q, want %q", c.args, err, c.want)
		}
	}
	assert.Equal(t, []string{"file"}, dirNames(t, dir), "nothing written")
	// Through main: one line, one prefix, exit status 1.
	_, stderr, code := runMain(t, "export", "-model", m, "-format", "triton", "-out", dir, "-max-batch", "0")
	assert.Equal(t, 1, code)
	assert.Equal(t, "csad: export: -max-batch 0 is out of range: want 1..256 images per batch (the model has a batch axis, so Triton's 0, no batching, does not apply)\n", stderr)
}

// dirNames lists dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// tritonConfig parses REPO/NAME/config.pbtxt with Triton's published schema.
func tritonConfig(t *testing.T, repo, name string) *tritonpb.ModelConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, name, "config.pbtxt"))
	require.NoError(t, err)
	var c tritonpb.ModelConfig
	require.NoError(t, prototext.Unmarshal(b, &c), "%s", b)
	return &c
}

// preferred is the default -preferred-batch for max: 2, 4, … and max.
func preferred(max int32) []int32 {
	var p []int32
	for b := int32(2); b < max; b *= 2 {
		p = append(p, b)
	}
	return append(p, max)
}

// wantConfig is the config.pbtxt of the small model (256×256 input, 64×64 maps).
func wantConfig(name, platform, file string, maxBatch int32, maps bool) *tritonpb.ModelConfig {
	fp32 := func(n string, dims ...int64) *tritonpb.ModelOutput {
		return &tritonpb.ModelOutput{Name: n, DataType: tritonpb.DataType_TYPE_FP32, Dims: dims}
	}
	scalar := func(n string) *tritonpb.ModelOutput {
		o := fp32(n, 1)
		o.Reshape = &tritonpb.ModelTensorReshape{}
		return o
	}
	c := &tritonpb.ModelConfig{
		Name: name, Platform: platform, MaxBatchSize: maxBatch, DefaultModelFilename: file,
		Input:  []*tritonpb.ModelInput{{Name: "input", DataType: tritonpb.DataType_TYPE_FP32, Dims: []int64{3, 256, 256}}},
		Output: []*tritonpb.ModelOutput{scalar("score"), scalar("lgst"), scalar("patch_hist")},
		SchedulingChoice: &tritonpb.ModelConfig_DynamicBatching{DynamicBatching: &tritonpb.ModelDynamicBatching{
			PreferredBatchSize: preferred(maxBatch), MaxQueueDelayMicroseconds: 100,
		}},
	}
	if maps {
		c.Output = append(c.Output, fp32("anomaly_map", 1, 64, 64),
			&tritonpb.ModelOutput{Name: "segmentation", DataType: tritonpb.DataType_TYPE_INT32, Dims: []int64{256, 256}},
			fp32("local_map", 64, 64), fp32("global_map", 64, 64))
	}
	return c
}

// onnxModel parses an exported file and returns its graph's input and output names and its
// default-domain opset.
func onnxModel(t *testing.T, path string) (ins, outs []string, opset int64, meta map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m onnxpb.ModelProto
	require.NoError(t, proto.Unmarshal(b, &m))
	for _, v := range m.GetGraph().GetInput() {
		ins = append(ins, v.GetName())
	}
	for _, v := range m.GetGraph().GetOutput() {
		outs = append(outs, v.GetName())
	}
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			opset = o.GetVersion()
		}
	}
	meta = map[string]string{}
	for _, p := range m.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	return ins, outs, opset, meta
}

// assertShapesMatch checks what Triton's ONNX Runtime backend checks when it loads the model:
// every configured tensor is in the graph, batched along its first (dynamic) axis, with the
// configured element type and, per image, the configured shape (the reshape where one is given).
func assertShapesMatch(t *testing.T, path string, cfg *tritonpb.ModelConfig) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m onnxpb.ModelProto
	require.NoError(t, proto.Unmarshal(b, &m))
	type io struct {
		elem  int32
		shape []int64
	}
	graph := map[string]io{}
	for _, v := range append(m.GetGraph().GetInput(), m.GetGraph().GetOutput()...) {
		tt := v.GetType().GetTensorType()
		dims := tt.GetShape().GetDim()
		require.NotEmpty(t, dims, v.GetName())
		assert.Equal(t, csad.ONNXBatchDim, dims[0].GetDimParam(), "%s: the first axis is the dynamic batch", v.GetName())
		shape := []int64{}
		for _, d := range dims[1:] {
			shape = append(shape, d.GetDimValue())
		}
		graph[v.GetName()] = io{tt.GetElemType(), shape}
	}
	onnxType := map[tritonpb.DataType]int32{
		tritonpb.DataType_TYPE_FP32:  int32(onnxpb.TensorProto_FLOAT),
		tritonpb.DataType_TYPE_INT32: int32(onnxpb.TensorProto_INT32),
	}
	check := func(name string, dt tritonpb.DataType, dims []int64, reshape *tritonpb.ModelTensorReshape) {
		g, ok := graph[name]
		if !assert.True(t, ok, "%s is not in the graph", name) {
			return
		}
		assert.Equal(t, onnxType[dt], g.elem, name)
		want := dims
		if reshape != nil {
			want = reshape.GetShape()
		}
		assert.Equal(t, append([]int64{}, want...), g.shape, name)
	}
	for _, in := range cfg.GetInput() {
		check(in.GetName(), in.GetDataType(), in.GetDims(), in.GetReshape())
	}
	for _, out := range cfg.GetOutput() {
		check(out.GetName(), out.GetDataType(), out.GetDims(), out.GetReshape())
	}
	assert.Len(t, graph, len(cfg.GetInput())+len(cfg.GetOutput()), "the graph has no tensor the configuration lacks")
}

var exportSummary = regexp.MustCompile(`^wrote (\S+): (.*)\n$`)

// TestExportTriton: the repository layout, config.pbtxt against the published schema, and the
// ONNX model's outputs matching the configuration (maps on by default, off with -maps=false).
func TestExportTriton(t *testing.T) {
	model := exportModel(t)
	repo := filepath.Join(t.TempDir(), "repo")
	out, _, err := execInProcess(newExportCmd, "-model", model, "-format", "triton", "-out", repo)
	require.NoError(t, err)
	dir := filepath.Join(repo, "breakfast_box")
	m := exportSummary.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	assert.Equal(t, dir, m[1])
	assert.Regexp(t, `^1/model\.onnx \d+\.\d MiB, opset 17, fp32, maps on, max batch 8$`, m[2])
	assert.Equal(t, []string{"breakfast_box"}, dirNames(t, repo))
	assert.Equal(t, []string{".csad-write.lock", "1", "config.pbtxt"}, dirNames(t, dir))
	assert.Equal(t, []string{"model.onnx"}, dirNames(t, filepath.Join(dir, "1")))
	want := wantConfig("breakfast_box", "onnxruntime_onnx", "model.onnx", 8, true)
	got := tritonConfig(t, repo, "breakfast_box")
	assert.Empty(t, cmp.Diff(want, got, protocmp.Transform()))
	ins, outs, opset, meta := onnxModel(t, filepath.Join(dir, "1", "model.onnx"))
	assert.Equal(t, []string{"input"}, ins)
	var cfgOuts []string
	for _, o := range got.GetOutput() {
		cfgOuts = append(cfgOuts, o.GetName())
	}
	assert.Equal(t, cfgOuts, outs, "the graph's outputs are the configuration's")
	assertShapesMatch(t, filepath.Join(dir, "1", "model.onnx"), got)
	assert.Equal(t, int64(17), opset)
	assert.Contains(t, meta[csad.ONNXHeaderKey], `"category":"breakfast box"`)

	// Again without maps, another name and batch: the old version is replaced in the same model
	// folder only when the name is the same; here a second model appears beside the first.
	out, _, err = execInProcess(newExportCmd, "-model", model, "-format", "triton", "-out", repo,
		"-maps=false", "-name", "bb-small", "-max-batch", "16", "-fp16", "-opset", "13")
	require.NoError(t, err)
	assert.Regexp(t, `, opset 13, fp16, maps off, max batch 16\n$`, out)
	assert.Equal(t, []string{"bb-small", "breakfast_box"}, dirNames(t, repo))
	want = wantConfig("bb-small", "onnxruntime_onnx", "model.onnx", 16, false)
	got = tritonConfig(t, repo, "bb-small")
	assert.Empty(t, cmp.Diff(want, got, protocmp.Transform()))
	_, outs, opset, _ = onnxModel(t, filepath.Join(repo, "bb-small", "1", "model.onnx"))
	assert.Equal(t, []string{"score", "lgst", "patch_hist"}, outs)
	assert.Equal(t, int64(13), opset)
	assertShapesMatch(t, filepath.Join(repo, "bb-small", "1", "model.onnx"), got)

	// Dynamic batching as asked for.
	_, _, err = execInProcess(newExportCmd, "-model", model, "-format", "triton", "-out", repo,
		"-name", "tuned", "-max-batch", "12", "-preferred-batch", "6,12", "-queue-delay", "2ms")
	require.NoError(t, err)
	db := tritonConfig(t, repo, "tuned").GetDynamicBatching()
	assert.Equal(t, []int32{6, 12}, db.GetPreferredBatchSize())
	assert.EqualValues(t, 2000, db.GetMaxQueueDelayMicroseconds())
	_, _, err = execInProcess(newExportCmd, "-model", model, "-format", "triton", "-out", repo,
		"-name", "tuned", "-max-batch", "4", "-preferred-batch", "8")
	assert.ErrorContains(t, err, "8")
}

// TestExportTritonEngine: with -engine the plan's bytes are model.plan on tensorrt_plan, and
// re-exporting over an ONNX version replaces the whole version folder.
func TestExportTritonEngine(t *testing.T) {
	model := exportModel(t)
	repo := t.TempDir()
	vdir := filepath.Join(repo, "bb", "1")
	require.NoError(t, os.MkdirAll(vdir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(vdir, "model.onnx"), []byte("an older export"), 0o644))
	plan := filepath.Join(t.TempDir(), "bb.plan")
	planBytes := []byte("serialized TensorRT engine")
	require.NoError(t, os.WriteFile(plan, planBytes, 0o644))
	out, _, err := execInProcess(newExportCmd, "-model", model, "-format", "triton", "-out", repo,
		"-name", "bb", "-engine", plan, "-max-batch", "4")
	require.NoError(t, err)
	assert.Equal(t, "wrote "+filepath.Join(repo, "bb")+": 1/model.plan 0.0 MiB, TensorRT engine "+plan+", maps on, max batch 4\n", out)
	assert.Equal(t, []string{"model.plan"}, dirNames(t, vdir), "the ONNX model of the old version is gone")
	b, err := os.ReadFile(filepath.Join(vdir, "model.plan"))
	require.NoError(t, err)
	assert.Equal(t, planBytes, b)
	want := wantConfig("bb", "tensorrt_plan", "model.plan", 4, true)
	assert.Empty(t, cmp.Diff(want, tritonConfig(t, repo, "bb"), protocmp.Transform()))
}

// TestExportONNX: the default output is MODEL.onnx beside the model, without maps; -maps adds
// the four map outputs.
func TestExportONNX(t *testing.T) {
	model := exportModel(t)
	out, _, err := execInProcess(newExportCmd, "-model", model)
	require.NoError(t, err)
	path := strings.TrimSuffix(model, ".csad") + ".onnx"
	assert.Regexp(t, `^wrote `+regexp.QuoteMeta(path)+`: \d+\.\d MiB, opset 17, fp32, maps off\n$`, out)
	ins, outs, opset, meta := onnxModel(t, path)
	assert.Equal(t, []string{"input"}, ins)
	assert.Equal(t, []string{"score", "lgst", "patch_hist"}, outs)
	assert.Equal(t, int64(17), opset)
	assert.Contains(t, meta, csad.ONNXHeaderKey)

	other := filepath.Join(t.TempDir(), "maps.onnx")
	_, _, err = execInProcess(newExportCmd, "-model", model, "-out", other, "-maps")
	require.NoError(t, err)
	_, outs, _, _ = onnxModel(t, other)
	assert.Equal(t, []string{"score", "lgst", "patch_hist", "anomaly_map", "segmentation", "local_map", "global_map"}, outs)
	assert.Equal(t, []string{"maps.onnx"}, dirNames(t, filepath.Dir(other)), "no temporary file left")
}

// engineFile writes a csad engine file (trt header + plan) for the small model's graph with
// image side size, without maps, whose profile runs batches up to 16.
func engineFile(t *testing.T, size int64, plan []byte) string {
	t.Helper()
	batched := func(dims ...int64) []int64 { return append([]int64{-1}, dims...) }
	h := trt.Header{
		TensorRT: trt.Version{Major: 10, Minor: 13, Patch: 3, Build: 9}, Headers: trt.Version{Major: 10, Minor: 13, Patch: 3, Build: 9},
		GPU: trt.GPU{Name: "NVIDIA H200", Major: 9}, Hardware: trt.HardwareNone,
		Profile: trt.Profile{Min: 1, Opt: 8, Max: 16},
		Inputs:  []trt.TensorInfo{{Name: "input", DType: "float32", Shape: batched(3, size, size)}},
		Outputs: []trt.TensorInfo{
			{Name: "score", DType: "float32", Shape: batched()}, {Name: "lgst", DType: "float32", Shape: batched()},
			{Name: "patch_hist", DType: "float32", Shape: batched()},
		},
	}
	var b bytes.Buffer
	require.NoError(t, trt.EncodeEngine(&b, h, plan))
	p := filepath.Join(t.TempDir(), "bb.engine")
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o644))
	return p
}

// TestExportTritonCSADEngine: a csad engine file's header is stripped (model.plan is the plan
// alone) and sets the outputs (no maps here, although maps are the triton default) and the
// max batch (the profile's 16); contradicting flags, another model's engine and a damaged file
// are refused.
func TestExportTritonCSADEngine(t *testing.T) {
	model := exportModel(t)
	repo := t.TempDir()
	plan := []byte("serialized TensorRT engine")
	engine := engineFile(t, 256, plan)
	out, _, err := execInProcess(newExportCmd, "-model", model, "-format", "triton", "-out", repo, "-engine", engine)
	require.NoError(t, err)
	assert.Equal(t, "wrote "+filepath.Join(repo, "breakfast_box")+": 1/model.plan 0.0 MiB, TensorRT engine "+engine+", maps off, max batch 16\n", out)
	b, err := os.ReadFile(filepath.Join(repo, "breakfast_box", "1", "model.plan"))
	require.NoError(t, err)
	assert.Equal(t, plan, b, "the header is stripped")
	want := wantConfig("breakfast_box", "tensorrt_plan", "model.plan", 16, false)
	assert.Empty(t, cmp.Diff(want, tritonConfig(t, repo, "breakfast_box"), protocmp.Transform()))

	damaged, err := os.ReadFile(engine)
	require.NoError(t, err)
	damaged[len(damaged)-1] ^= 1
	bad := filepath.Join(t.TempDir(), "damaged.engine")
	require.NoError(t, os.WriteFile(bad, damaged, 0o644))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-engine", engine, "-max-batch", "32"}, "export: -max-batch 32: -engine " + engine + " runs batches of at most 16"},
		{[]string{"-engine", engine, "-maps"}, "export: -maps=true, but -engine " + engine + " was built without the map outputs"},
		{[]string{"-engine", engineFile(t, 512, plan)}, "export: -engine "},
		{[]string{"-engine", bad}, "trt: engine file: the plan's CRC-32C"},
	} {
		other := t.TempDir()
		_, _, err := execInProcess(newExportCmd, append([]string{"-model", model, "-format", "triton", "-out", other}, c.args...)...)
		if assert.Error(t, err, "%v", c.args) {
			assert.True(t, strings.HasPrefix(err.Error(), c.want), "%v: error %q, want %q", c.args, err, c.want)
		}
		assert.Empty(t, dirNames(t, other), "%v: nothing written", c.args)
	}
	_, _, err = execInProcess(newExportCmd, "-model", model, "-format", "triton", "-out", repo, "-engine", engineFile(t, 512, plan))
	assert.ErrorContains(t, err, "takes input [3 512 512], the model input [3 256 256] per image: it was built from another model")
}
