package trt

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/csad-go/csad/internal/onnxpb"
)

func TestBuildOptionsDefaults(t *testing.T) {
	cases := []struct {
		in   BuildOptions
		want Profile
	}{
		{BuildOptions{}, Profile{1, 1, 1}},
		{BuildOptions{MaxBatch: 8}, Profile{1, 1, 8}},
		{BuildOptions{MinBatch: 2, MaxBatch: 8}, Profile{2, 2, 8}},
		{BuildOptions{OptBatch: 4}, Profile{1, 4, 4}},
		{BuildOptions{MinBatch: 1, OptBatch: 4, MaxBatch: 16}, Profile{1, 4, 16}},
	}
	for _, c := range cases {
		o, err := c.in.normalize()
		require.NoError(t, err)
		assert.Equal(t, c.want, Profile{o.MinBatch, o.OptBatch, o.MaxBatch}, "%+v", c.in)
		assert.Equal(t, DefaultInput, o.Input)
		assert.Equal(t, HardwareNone, o.Hardware)
	}
}

func TestBuildOptionsErrors(t *testing.T) {
	cases := []struct {
		in   BuildOptions
		want string
	}{
		{BuildOptions{MinBatch: -1}, "batch profile min -1, opt -1, max -1: need 1 <= min <= opt <= max <= 65536"},
		{BuildOptions{MinBatch: 4, OptBatch: 2, MaxBatch: 8}, "min 4, opt 2, max 8"},
		{BuildOptions{MinBatch: 1, OptBatch: 8, MaxBatch: 4}, "min 1, opt 8, max 4"},
		{BuildOptions{MaxBatch: MaxBatch + 1}, "need 1 <= min <= opt <= max <= 65536"},
		{BuildOptions{WorkspaceMiB: -1}, "workspace -1 MiB is outside [0, 1048576]"},
		{BuildOptions{Hardware: "volta+"}, `unknown hardware compatibility level "volta+"`},
		{BuildOptions{Device: -1}, "device -1"},
	}
	for _, c := range cases {
		_, err := c.in.normalize()
		require.Error(t, err, "%+v", c.in)
		assert.Contains(t, err.Error(), c.want)
		assert.Regexp(t, `^trt: `, err.Error())
	}
}

func TestLoadOptions(t *testing.T) {
	o, err := LoadOptions{}.normalize()
	require.NoError(t, err)
	assert.Equal(t, 1, o.Contexts)
	_, err = LoadOptions{Contexts: -1}.normalize()
	require.ErrorContains(t, err, "-1 contexts")
	_, err = LoadOptions{Device: -2}.normalize()
	require.ErrorContains(t, err, "device -2")
}

// The fixtures are made by testdata/trt/gen_trt_golden.py: the csad header in metadata_props,
// and float16 weights and casts in the FP16 one.
func TestInspectONNX(t *testing.T) {
	for _, c := range []struct {
		file string
		fp16 bool
	}{{"tiny.onnx", false}, {"tiny_fp16.onnx", true}} {
		data, err := os.ReadFile("../testdata/trt/" + c.file)
		require.NoError(t, err)
		g, err := inspectONNX(data)
		require.NoError(t, err)
		assert.Equal(t, c.fp16, g.fp16, c.file)
		assert.True(t, g.hasModel)
		assert.Equal(t, "tiny", g.model.Category)
		assert.Equal(t, map[string]float64{"q_st_start": 0.25, "q_st_end": 2.5}, g.model.Normalisers)
		assert.JSONEq(t, `{"format":"csad-model","version":1,"category":"tiny","normalisers":{"q_st_start":0.25,"q_st_end":2.5}}`, string(g.model.Header))

		info, ok, err := ModelInfoFromONNX(data)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, g.model, info)
	}
}

func TestInspectONNXWithoutHeader(t *testing.T) {
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: &onnxpb.GraphProto{Name: proto.String("g")}}
	data, err := proto.Marshal(m)
	require.NoError(t, err)
	info, ok, err := ModelInfoFromONNX(data)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, ModelInfo{}, info)

	m.MetadataProps = []*onnxpb.StringStringEntryProto{{Key: proto.String("csad.header"), Value: proto.String("{not json")}}
	data, err = proto.Marshal(m)
	require.NoError(t, err)
	_, _, err = ModelInfoFromONNX(data)
	require.ErrorContains(t, err, `the ONNX model's "csad.header" metadata is not a csad header`)

	_, _, err = ModelInfoFromONNX([]byte("\xff\xff\xff not protobuf"))
	require.ErrorContains(t, err, "not an ONNX model")
	empty, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8)})
	require.NoError(t, err)
	_, _, err = ModelInfoFromONNX(empty)
	require.ErrorContains(t, err, "has no graph")
}

// Go's build cache does not see csrc/trt.{h,cpp} from package trt (they are included from
// another folder), so trt/shim_tensorrt.cpp carries their digest: this test fails when either
// changed without it.
func TestShimDigest(t *testing.T) {
	h, err := os.ReadFile("../csrc/trt.h")
	require.NoError(t, err)
	cpp, err := os.ReadFile("../csrc/trt.cpp")
	require.NoError(t, err)
	sum := sha256.Sum256(append(h, cpp...))
	shim, err := os.ReadFile("shim_tensorrt.cpp")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^// csrc-trt-sha256: ([0-9a-f]{64})$`).FindSubmatch(shim)
	require.NotNil(t, m, "shim_tensorrt.cpp has no csrc-trt-sha256 line")
	assert.Equal(t, hex.EncodeToString(sum[:]), string(m[1]),
		"csrc/trt.h or csrc/trt.cpp changed: run 'make trt-stamp' so that tagged builds recompile the shim")
}

func TestErrorIsCode(t *testing.T) {
	err := error(&Error{Op: "run", Code: CodeCUDA, Msg: "no device"})
	assert.ErrorIs(t, err, &Error{Code: CodeCUDA})
	assert.NotErrorIs(t, err, &Error{Code: CodeRun})
	assert.Equal(t, "trt: run: no device", err.Error())
	assert.Equal(t, "CUDA error", CodeCUDA.String())
}
