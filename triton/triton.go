package triton

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/prototext"

	"github.com/csad-go/csad/internal/atomicfile"
	"github.com/csad-go/csad/internal/tritonpb"
)

// Platforms Write knows, with the file name Triton looks for in a version folder.
const (
	PlatformONNX     = "onnxruntime_onnx"
	PlatformTensorRT = "tensorrt_plan"
)

// Version is the one model version Write lays out; re-exporting replaces it.
const Version = "1"

// ConfigFile is the model configuration's file name in the model folder.
const ConfigFile = "config.pbtxt"

// maxNameLen is the longest model name: the model folder's name, which most file systems cap
// at 255 bytes.
const maxNameLen = 255

// Tensor is one model input or output. Dims exclude the batch axis, as Triton's dims do; nil
// Dims is a tensor of shape (batch,), one number per image.
//
// It has the fields of csad.ONNXTensor, so a conversion triton.Tensor(t) takes one over
// without this package linking LibTorch.
type Tensor struct {
	Name  string
	DType string // "float32" or "int32"
	Dims  []int64
}

// Model is what Write puts in a repository.
type Model struct {
	Name     string // the model folder and the name clients use (/v2/models/NAME)
	Platform string // PlatformONNX or PlatformTensorRT
	// MaxBatch is max_batch_size: the largest batch Triton's dynamic batcher forms. A TensorRT
	// plan must have been built with an optimisation profile that reaches it.
	MaxBatch int
	Inputs   []Tensor
	Outputs  []Tensor
	// PreferredBatch lists batch sizes the batcher runs as soon as it has them (ascending,
	// each 1..MaxBatch); empty lets Triton choose.
	PreferredBatch []int
	// QueueDelay is how long a request may wait for others to join its batch (whole
	// microseconds); 0 runs whatever is queued at once.
	QueueDelay time.Duration
	Data       []byte // the .onnx model or the serialized TensorRT engine (plan)
}

// validName is the model names Write accepts: safe as a folder name and unescaped in a URL
// path, not hidden (Triton would list a dot folder as a model too), not an option to a shell
// tool.
var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// CheckName reports why name cannot be a model's name, or nil.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("triton: empty model name")
	case len(name) > maxNameLen:
		return fmt.Errorf("triton: model name of %d bytes is too long: at most %d (it is a folder name)", len(name), maxNameLen)
	case !validName.MatchString(name):
		return fmt.Errorf("triton: bad model name %q: use letters, digits, '_', '.' and '-', not starting with '.' or '-' (it is a folder name and part of the /v2/models/NAME URL)", name)
	}
	return nil
}

// SanitizeName turns s (e.g. a category) into a valid model name: every other character
// becomes '_', leading '.' and '-' are dropped, and an empty result is "csad".
func SanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	out := strings.TrimLeft(string(b), ".-")
	if len(out) > maxNameLen {
		out = out[:maxNameLen]
	}
	if out == "" {
		return "csad"
	}
	return out
}

// fileName is the model file Triton's backend for platform loads by default.
func fileName(platform string) (string, error) {
	switch platform {
	case PlatformONNX:
		return "model.onnx", nil
	case PlatformTensorRT:
		return "model.plan", nil
	}
	return "", fmt.Errorf("triton: platform %q: want %q or %q", platform, PlatformONNX, PlatformTensorRT)
}

var dataTypes = map[string]tritonpb.DataType{
	"float32": tritonpb.DataType_TYPE_FP32,
	"int32":   tritonpb.DataType_TYPE_INT32,
}

// ioShape gives a tensor's dims and reshape. Triton requires non-empty dims, so a per-image
// scalar (batch,) is dims [1] with an empty reshape: clients see (batch, 1), the model (batch,).
func ioShape(t Tensor) ([]int64, *tritonpb.ModelTensorReshape) {
	if len(t.Dims) == 0 {
		return []int64{1}, &tritonpb.ModelTensorReshape{}
	}
	return append([]int64(nil), t.Dims...), nil
}

func checkTensors(kind string, ts []Tensor, seen map[string]string) error {
	if len(ts) == 0 {
		return fmt.Errorf("triton: the model has no %ss", kind)
	}
	for _, t := range ts {
		if t.Name == "" {
			return fmt.Errorf("triton: an %s has no name", kind)
		}
		if prev, dup := seen[t.Name]; dup {
			return fmt.Errorf("triton: %s %q: the name is already an %s", kind, t.Name, prev)
		}
		seen[t.Name] = kind
		if _, ok := dataTypes[t.DType]; !ok {
			return fmt.Errorf("triton: %s %q: data type %q: want float32 or int32", kind, t.Name, t.DType)
		}
		for _, d := range t.Dims {
			if d < 1 {
				return fmt.Errorf("triton: %s %q: dims %v: every dim must be ≥ 1 (the batch axis is left out)", kind, t.Name, t.Dims)
			}
		}
	}
	return nil
}

func (m Model) check() error {
	if err := CheckName(m.Name); err != nil {
		return err
	}
	if _, err := fileName(m.Platform); err != nil {
		return err
	}
	if m.MaxBatch < 1 || m.MaxBatch > math.MaxInt32 {
		// 0 is Triton's "no batching", for models without a batch axis; every tensor here has one.
		return fmt.Errorf("triton: max batch %d: want 1..%d (the model's first axis is the batch)", m.MaxBatch, math.MaxInt32)
	}
	for i, p := range m.PreferredBatch {
		if p < 1 || p > m.MaxBatch {
			return fmt.Errorf("triton: preferred batch size %d: want 1..%d (the max batch)", p, m.MaxBatch)
		}
		if i > 0 && p <= m.PreferredBatch[i-1] {
			return fmt.Errorf("triton: preferred batch sizes %v: list each once, in ascending order", m.PreferredBatch)
		}
	}
	if m.QueueDelay < 0 || m.QueueDelay%time.Microsecond != 0 {
		return fmt.Errorf("triton: queue delay %v: want whole microseconds ≥ 0 (Triton counts it in µs)", m.QueueDelay)
	}
	seen := map[string]string{}
	if err := checkTensors("input", m.Inputs, seen); err != nil {
		return err
	}
	if err := checkTensors("output", m.Outputs, seen); err != nil {
		return err
	}
	if len(m.Data) == 0 {
		return fmt.Errorf("triton: model %s has no data (the .onnx or plan bytes)", m.Name)
	}
	return nil
}

// config builds the ModelConfig message of m, which must have passed check.
func (m Model) config() *tritonpb.ModelConfig {
	file, _ := fileName(m.Platform) // checked
	c := &tritonpb.ModelConfig{
		Name:                 m.Name,
		Platform:             m.Platform,
		MaxBatchSize:         int32(m.MaxBatch),
		DefaultModelFilename: file,
	}
	db := &tritonpb.ModelDynamicBatching{MaxQueueDelayMicroseconds: uint64(m.QueueDelay / time.Microsecond)}
	for _, p := range m.PreferredBatch {
		db.PreferredBatchSize = append(db.PreferredBatchSize, int32(p))
	}
	c.SchedulingChoice = &tritonpb.ModelConfig_DynamicBatching{DynamicBatching: db}
	for _, t := range m.Inputs {
		dims, reshape := ioShape(t)
		c.Input = append(c.Input, &tritonpb.ModelInput{Name: t.Name, DataType: dataTypes[t.DType], Dims: dims, Reshape: reshape})
	}
	for _, t := range m.Outputs {
		dims, reshape := ioShape(t)
		c.Output = append(c.Output, &tritonpb.ModelOutput{Name: t.Name, DataType: dataTypes[t.DType], Dims: dims, Reshape: reshape})
	}
	return c
}

// extraSpace matches a field name followed by two spaces. protobuf-go adds the second space
// in some builds and not others, on purpose, so that nobody depends on its exact text; the
// file is diffed and reviewed by people, so it is written the same way by every build.
var extraSpace = regexp.MustCompile(`(?m)^(\s*[A-Za-z_][A-Za-z0-9_]*:) {2}`)

// ConfigText is the config.pbtxt Write writes for m: the ModelConfig in protobuf text format.
func ConfigText(m Model) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b, err := prototext.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m.config())
	if err != nil {
		return nil, fmt.Errorf("triton: config of %s: %w", m.Name, err)
	}
	return normalise(b), nil
}

// normalise gives the text one space after each field name and a final newline.
func normalise(b []byte) []byte {
	b = extraSpace.ReplaceAll(b, []byte("$1 "))
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	return b
}

// Write lays m out in the repository repoDir (made if missing): repoDir/NAME/config.pbtxt and
// repoDir/NAME/1/model.onnx or model.plan. Other files of the model folder, and other
// versions, are left alone.
//
// An existing version 1 is replaced as a whole: the new folder is written and synced beside it
// under a name Triton ignores (not a number), then swapped in by one rename, so a Triton
// polling the repository sees the old version or the new one, never a mix. The version goes in
// before the configuration, so a model new to the repository is complete when its
// config.pbtxt appears. The configuration and the version are two files, and a Triton that
// reloads between the two renames sees the new model with the old configuration once; with
// --model-control-mode=explicit, load the model after Write returns.
func Write(repoDir string, m Model) error {
	cfg, err := ConfigText(m)
	if err != nil {
		return err
	}
	file, _ := fileName(m.Platform) // checked
	modelDir := filepath.Join(repoDir, m.Name)
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		return fmt.Errorf("triton: %w", err)
	}
	unlock, err := lockModelDir(modelDir)
	if err != nil {
		return fmt.Errorf("triton: lock %s: %w", modelDir, err)
	}
	if unlock != nil {
		defer unlock()
		// Holding the lock, no other Write is running: a temporary version folder here is
		// what a writer killed mid-way (SIGKILL, a power cut) left.
		removeStaleVersions(modelDir)
	}
	if err := replaceVersion(modelDir, file, m.Data); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(modelDir, ConfigFile), cfg); err != nil {
		return fmt.Errorf("triton: %w", err)
	}
	return nil
}

// lockFile, in a model's folder, serialises Writes to that model. Triton ignores it (not a
// number, not config.pbtxt).
const lockFile = ".csad-write.lock"

func lockPath(modelDir string) string { return filepath.Join(modelDir, lockFile) }

// tempVersionPattern names replaceVersion's temporary folders (and their ".old" siblings).
const tempVersionPattern = "." + Version + ".tmp-*"

// removeStaleVersions removes the temporary folders of earlier Writes that did not finish. A
// failure leaves them, as before, to no harm: Triton ignores them.
func removeStaleVersions(modelDir string) {
	stale, err := filepath.Glob(filepath.Join(modelDir, tempVersionPattern))
	if err != nil {
		return
	}
	for _, p := range stale {
		os.RemoveAll(p)
	}
}

// replaceVersion writes modelDir/1/file with data through a temporary sibling folder.
func replaceVersion(modelDir, file string, data []byte) (err error) {
	final := filepath.Join(modelDir, Version)
	if st, err := os.Lstat(final); err == nil && !st.IsDir() {
		return fmt.Errorf("triton: %s is not a folder; remove it so the model version can be written", final)
	}
	tmp, err := os.MkdirTemp(modelDir, tempVersionPattern)
	if err != nil {
		return fmt.Errorf("triton: %w", err)
	}
	// Whatever is left in tmp at the end, the new files after a failure or the old version
	// after an exchange, goes.
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("triton: remove the replaced version: %w", rerr)
		}
	}()
	// MkdirTemp makes the folder private; a version folder is ordinary data.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("triton: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, file), data); err != nil {
		return fmt.Errorf("triton: %w", err)
	}
	syncDir(tmp)
	if err := swapIn(tmp, final); err != nil {
		return fmt.Errorf("triton: put the new version in place of %s: %w", final, err)
	}
	syncDir(modelDir)
	return nil
}

// swapIn moves the folder tmp to final. An existing final ends up at tmp: exchanged with one
// system call where the platform has one, otherwise moved aside first, which leaves a moment
// with no version folder (Triton would unload the model until the next poll) but never a
// half-written one.
func swapIn(tmp, final string) error {
	if _, err := os.Lstat(final); errors.Is(err, os.ErrNotExist) {
		return os.Rename(tmp, final)
	}
	if exchanged, err := exchangeFolders(tmp, final); exchanged || err != nil {
		return err
	}
	old := tmp + ".old"
	if err := os.Rename(final, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		// Put the old version back rather than leave none.
		if rerr := os.Rename(old, final); rerr != nil {
			return fmt.Errorf("%w (and the old version is left at %s: %v)", err, old, rerr)
		}
		return err
	}
	return os.Rename(old, tmp)
}

// exchangeFolders is exchange, replaced in tests to take the two-rename path.
var exchangeFolders = exchange

// syncDir makes the renames in dir durable where the file system allows it; the data itself
// is already synced, so a failure is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
