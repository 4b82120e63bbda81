package triton

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/csad-go/csad/internal/tritonpb"
)

// small is the model the tests write: the graph of csad.ONNXSignature with maps at 256×256.
func small() Model {
	return Model{
		Name:     "breakfast_box",
		Platform: PlatformONNX,
		MaxBatch: 8,
		Inputs:   []Tensor{{"input", "float32", []int64{3, 256, 256}}},
		Outputs: []Tensor{
			{"score", "float32", nil}, {"lgst", "float32", nil}, {"patch_hist", "float32", nil},
			{"anomaly_map", "float32", []int64{1, 64, 64}}, {"segmentation", "int32", []int64{256, 256}},
		},
		PreferredBatch: []int{2, 8},
		QueueDelay:     250 * time.Microsecond,
		Data:           []byte("onnx bytes"),
	}
}

// readConfig parses repo/name/config.pbtxt with the published schema, refusing unknown fields.
func readConfig(t *testing.T, repo, name string) *tritonpb.ModelConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, name, ConfigFile))
	require.NoError(t, err)
	var c tritonpb.ModelConfig
	require.NoError(t, prototext.Unmarshal(b, &c), "%s", b)
	return &c
}

// entries lists dir, failing on error.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func fp32(name string, dims ...int64) *tritonpb.ModelOutput {
	return &tritonpb.ModelOutput{Name: name, DataType: tritonpb.DataType_TYPE_FP32, Dims: dims}
}

// TestConfigRoundTrip: config.pbtxt parses back into the ModelConfig written out by hand here
// from Triton's documentation (scalars as dims [1] with an empty reshape), for both platforms.
func TestConfigRoundTrip(t *testing.T) {
	scalar := func(name string) *tritonpb.ModelOutput {
		o := fp32(name, 1)
		o.Reshape = &tritonpb.ModelTensorReshape{}
		return o
	}
	want := &tritonpb.ModelConfig{
		Name: "breakfast_box", Platform: "onnxruntime_onnx", MaxBatchSize: 8,
		DefaultModelFilename: "model.onnx",
		Input:                []*tritonpb.ModelInput{{Name: "input", DataType: tritonpb.DataType_TYPE_FP32, Dims: []int64{3, 256, 256}}},
		Output: []*tritonpb.ModelOutput{
			scalar("score"), scalar("lgst"), scalar("patch_hist"), fp32("anomaly_map", 1, 64, 64),
			{Name: "segmentation", DataType: tritonpb.DataType_TYPE_INT32, Dims: []int64{256, 256}},
		},
		SchedulingChoice: &tritonpb.ModelConfig_DynamicBatching{DynamicBatching: &tritonpb.ModelDynamicBatching{
			PreferredBatchSize: []int32{2, 8}, MaxQueueDelayMicroseconds: 250,
		}},
	}
	repo := t.TempDir()
	m := small()
	require.NoError(t, Write(repo, m))
	got := readConfig(t, repo, m.Name)
	assert.Empty(t, cmp.Diff(want, got, protocmp.Transform()))
	data, err := os.ReadFile(filepath.Join(repo, m.Name, "1", "model.onnx"))
	require.NoError(t, err)
	assert.Equal(t, m.Data, data)
	assert.Equal(t, []string{lockFile, "1", "config.pbtxt"}, entries(t, filepath.Join(repo, m.Name)), "no temporary left")
	assert.Equal(t, []string{"model.onnx"}, entries(t, filepath.Join(repo, m.Name, "1")))

	// A TensorRT plan without batching preferences: an empty dynamic_batching, Triton's defaults.
	m = small()
	m.Name, m.Platform, m.PreferredBatch, m.QueueDelay, m.Data = "bb_trt", PlatformTensorRT, nil, 0, []byte("plan")
	require.NoError(t, Write(repo, m))
	want.Name, want.Platform, want.DefaultModelFilename = "bb_trt", "tensorrt_plan", "model.plan"
	want.SchedulingChoice = &tritonpb.ModelConfig_DynamicBatching{DynamicBatching: &tritonpb.ModelDynamicBatching{}}
	assert.Empty(t, cmp.Diff(want, readConfig(t, repo, m.Name), protocmp.Transform()))
	assert.Equal(t, []string{"model.plan"}, entries(t, filepath.Join(repo, m.Name, "1")))
}

// TestNormalise: protobuf-go puts two spaces after field names in some builds; the file is
// the same from every build, and quoted values keep their spaces.
func TestNormalise(t *testing.T) {
	in := "name:  \"a  b\"\ninput: {\n  dims:  3\n  reshape: {}\n}"
	assert.Equal(t, "name: \"a  b\"\ninput: {\n  dims: 3\n  reshape: {}\n}\n", string(normalise([]byte(in))))
}

func TestInvalidModels(t *testing.T) {
	for _, tc := range []struct {
		change func(*Model)
		want   string
	}{
		{func(m *Model) { m.Name = "" }, "empty model name"},
		{func(m *Model) { m.Name = "a/b" }, `bad model name "a/b"`},
		{func(m *Model) { m.Name = ".." }, `bad model name ".."`},
		{func(m *Model) { m.Name = ".hidden" }, "not starting with '.'"},
		{func(m *Model) { m.Name = "-rf" }, `bad model name "-rf"`},
		{func(m *Model) { m.Name = "a b" }, `bad model name "a b"`},
		{func(m *Model) { m.Name = strings.Repeat("a", 256) }, "too long: at most 255"},
		{func(m *Model) { m.Platform = "pytorch_libtorch" }, `platform "pytorch_libtorch"`},
		{func(m *Model) { m.MaxBatch = 0 }, "max batch 0: want 1..2147483647"},
		{func(m *Model) { m.MaxBatch = -1 }, "max batch -1"},
		{func(m *Model) { m.MaxBatch = 1 << 31 }, "max batch 2147483648"},
		{func(m *Model) { m.PreferredBatch = []int{4, 16} }, "preferred batch size 16: want 1..8"},
		{func(m *Model) { m.PreferredBatch = []int{0} }, "preferred batch size 0"},
		{func(m *Model) { m.PreferredBatch = []int{4, 2} }, "ascending"},
		{func(m *Model) { m.PreferredBatch = []int{4, 4} }, "ascending"},
		{func(m *Model) { m.QueueDelay = -time.Microsecond }, "queue delay -1µs"},
		{func(m *Model) { m.QueueDelay = 1500 * time.Nanosecond }, "whole microseconds"},
		{func(m *Model) { m.Inputs = nil }, "no inputs"},
		{func(m *Model) { m.Outputs = nil }, "no outputs"},
		{func(m *Model) { m.Outputs[1].Name = "" }, "an output has no name"},
		{func(m *Model) { m.Outputs[1].Name = "score" }, `output "score": the name is already an output`},
		{func(m *Model) { m.Outputs[0].Name = "input" }, `output "input": the name is already an input`},
		{func(m *Model) { m.Outputs[4].DType = "int64" }, `data type "int64"`},
		{func(m *Model) { m.Inputs[0].Dims = []int64{-1, 256, 256} }, "every dim must be ≥ 1"},
		{func(m *Model) { m.Data = nil }, "has no data"},
	} {
		m := small()
		tc.change(&m)
		repo := t.TempDir()
		err := Write(repo, m)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.True(t, strings.HasPrefix(err.Error(), "triton: "), err.Error())
		assert.Empty(t, entries(t, repo), "%s: nothing written", tc.want)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"breakfast_box": "breakfast_box", "juice bottle": "juice_bottle", "a/b\\c": "a_b_c",
		"../x": "_x", ".-x": "x", "": "csad", "...": "csad", "Über": "__ber",
		strings.Repeat("x", 300): strings.Repeat("x", 255),
	} {
		got := SanitizeName(in)
		assert.Equal(t, want, got, "%q", in)
		assert.NoError(t, CheckName(got), "%q", in)
	}
}

// TestReplaceVersionWhole: re-exporting replaces version 1 completely (a stale file goes) and
// leaves the model folder's other files and versions; both the one-call exchange and the
// two-rename fallback.
func TestReplaceVersionWhole(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		if fallback {
			exchangeFolders = func(a, b string) (bool, error) { return false, nil }
			t.Cleanup(func() { exchangeFolders = exchange })
		}
		repo := t.TempDir()
		m := small()
		dir := filepath.Join(repo, m.Name)
		for p, data := range map[string]string{
			"1/model.onnx": "old onnx", "1/stale.bin": "stale", "2/model.onnx": "version 2", "labels.txt": "labels",
			"config.pbtxt": "old config",
		} {
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644))
		}
		require.NoError(t, Write(repo, m))
		assert.Equal(t, []string{lockFile, "1", "2", "config.pbtxt", "labels.txt"}, entries(t, dir), "fallback %v", fallback)
		assert.Equal(t, []string{"model.onnx"}, entries(t, filepath.Join(dir, "1")), "fallback %v", fallback)
		for p, want := range map[string]string{"1/model.onnx": "onnx bytes", "2/model.onnx": "version 2", "labels.txt": "labels"} {
			b, err := os.ReadFile(filepath.Join(dir, p))
			require.NoError(t, err)
			assert.Equal(t, want, string(b), "%s, fallback %v", p, fallback)
		}
		assert.Equal(t, "breakfast_box", readConfig(t, repo, m.Name).GetName())
		st, err := os.Stat(filepath.Join(dir, "1"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	}
}

// TestStaleTemporaryVersionRemoved: the temporary version folders of a writer killed mid-way
// (here made by hand, as SIGKILL would leave them) go at the next Write, which holds the lock.
func TestStaleTemporaryVersionRemoved(t *testing.T) {
	repo := t.TempDir()
	m := small()
	dir := filepath.Join(repo, m.Name)
	for _, p := range []string{".1.tmp-123/model.onnx", ".1.tmp-456.old/model.onnx"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte("half"), 0o644))
	}
	require.NoError(t, Write(repo, m))
	assert.Equal(t, []string{lockFile, "1", "config.pbtxt"}, entries(t, dir))
}

// TestWritesToOneModelTakeTurns: Writes of two models to the same name from many goroutines
// each leave a complete version: the lock makes them take turns, and none removes another's
// temporary folder while it writes.
func TestWritesToOneModelTakeTurns(t *testing.T) {
	repo := t.TempDir()
	a, b := small(), small()
	b.Data = []byte("other onnx bytes, longer")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			m := a
			if i%2 == 1 {
				m = b
			}
			assert.NoError(t, Write(repo, m))
		})
	}
	wg.Wait()
	dir := filepath.Join(repo, a.Name)
	assert.Equal(t, []string{lockFile, "1", "config.pbtxt"}, entries(t, dir))
	got, err := os.ReadFile(filepath.Join(dir, "1", "model.onnx"))
	require.NoError(t, err)
	assert.Contains(t, []string{string(a.Data), string(b.Data)}, string(got))
}

// TestVersionIsNotAFolder: a file named 1 is refused and left as it is.
func TestVersionIsNotAFolder(t *testing.T) {
	repo := t.TempDir()
	m := small()
	require.NoError(t, os.MkdirAll(filepath.Join(repo, m.Name), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, m.Name, "1"), []byte("x"), 0o644))
	err := Write(repo, m)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a folder; remove it")
	assert.Equal(t, []string{lockFile, "1"}, entries(t, filepath.Join(repo, m.Name)))
}

// TestReaderNeverSeesHalfAModel: while the version is replaced again and again by models of
// different sizes, a reader always finds model.onnx, complete, and one of the two models.
func TestReaderNeverSeesHalfAModel(t *testing.T) {
	repo := t.TempDir()
	a, b := small(), small()
	a.Data = bytes.Repeat([]byte{'a'}, 1<<20)
	b.Data = bytes.Repeat([]byte{'b'}, 3<<19)
	require.NoError(t, Write(repo, a))
	path := filepath.Join(repo, a.Name, "1", "model.onnx")
	var stop atomic.Bool
	var reads, bad atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			got, err := os.ReadFile(path)
			reads.Add(1)
			if err != nil || !bytes.Equal(got, a.Data) && !bytes.Equal(got, b.Data) {
				bad.Add(1)
			}
		}
	})
	for i := range 40 {
		require.NoError(t, Write(repo, []Model{a, b}[i%2]))
	}
	stop.Store(true)
	wg.Wait()
	assert.Zero(t, bad.Load(), "of %d reads", reads.Load())
	assert.Positive(t, reads.Load())
	names := entries(t, filepath.Join(repo, a.Name))
	assert.Equal(t, []string{lockFile, "1", "config.pbtxt"}, names)
	assert.False(t, slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, ".") && n != lockFile }))
}
