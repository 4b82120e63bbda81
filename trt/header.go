package trt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// An engine file is our header followed by TensorRT's serialized plan:
//
//	magic     8 bytes  "CSADTRT\x00"
//	format    uint32   little-endian, FormatVersion
//	length    uint32   little-endian, bytes of the JSON header that follows (at most MaxHeaderBytes)
//	header    JSON     Header; PlanSize and PlanCRC32C describe the plan
//	plan      PlanSize bytes, what IBuilder::buildSerializedNetwork returned
//
// The header is JSON so that people can read it (head -c 4096 model.engine) and so that a
// field added later does not break older readers; the binary frame around it lets a reader
// refuse a file after 16 bytes, before reading or allocating anything large.

// Magic starts every engine file.
const Magic = "CSADTRT\x00"

// FormatVersion is the engine file format this package writes; readers refuse newer ones.
const FormatVersion = 1

// Limits that a damaged or hostile file cannot exceed; they are checked before allocating.
const (
	MaxHeaderBytes = 1 << 20  // the JSON header
	MaxPlanBytes   = 64 << 30 // TensorRT's plan
	MaxBatch       = 1 << 16  // a profile's largest batch
	maxTensors     = 64
	maxName        = 1024
)

const prefixBytes = len(Magic) + 8

// Version is a TensorRT version.
type Version struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
	Patch int `json:"patch"`
	Build int `json:"build"`
}

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d.%d", v.Major, v.Minor, v.Patch, v.Build)
}

func (v Version) less(o Version) bool {
	return slices.Compare([]int{v.Major, v.Minor, v.Patch, v.Build}, []int{o.Major, o.Minor, o.Patch, o.Build}) < 0
}

// GPU is a CUDA device as engine headers record it.
type GPU struct {
	Name  string `json:"name"`
	Major int    `json:"cc_major"` // compute capability
	Minor int    `json:"cc_minor"`
}

func (g GPU) String() string {
	return fmt.Sprintf("%s (compute capability %d.%d)", g.Name, g.Major, g.Minor)
}

// HardwareCompatibility is TensorRT's hardware compatibility level: which GPUs besides the
// one it was built on an engine runs on.
type HardwareCompatibility string

// The levels.
const (
	// HardwareNone: GPUs of the building one's compute capability only (TensorRT's default).
	HardwareNone HardwareCompatibility = "none"
	// HardwareAmperePlus: every GPU of compute capability 8.0 or newer, for some speed.
	HardwareAmperePlus HardwareCompatibility = "ampere+"
	// HardwareSameComputeCapability: every GPU of the building one's compute capability.
	HardwareSameComputeCapability HardwareCompatibility = "same-compute-capability"
)

// HardwareLevels lists the accepted HardwareCompatibility values, for flags and messages.
var HardwareLevels = []HardwareCompatibility{HardwareNone, HardwareAmperePlus, HardwareSameComputeCapability}

// ParseHardwareCompatibility reads a level; "" is HardwareNone.
func ParseHardwareCompatibility(s string) (HardwareCompatibility, error) {
	if s == "" {
		return HardwareNone, nil
	}
	for _, h := range HardwareLevels {
		if string(h) == s {
			return h, nil
		}
	}
	return "", fmt.Errorf("trt: unknown hardware compatibility level %q: want one of %s", s, joinLevels())
}

func joinLevels() string {
	names := make([]string, len(HardwareLevels))
	for i, h := range HardwareLevels {
		names[i] = string(h)
	}
	return strings.Join(names, ", ")
}

// Profile is the batch range of the engine's optimization profile: it runs batches from Min
// to Max and is fastest at Opt.
type Profile struct {
	Min int `json:"min"`
	Opt int `json:"opt"`
	Max int `json:"max"`
}

func (p Profile) String() string {
	return fmt.Sprintf("batch min %d, opt %d, max %d", p.Min, p.Opt, p.Max)
}

func (p Profile) check() error {
	if p.Min < 1 || p.Opt < p.Min || p.Max < p.Opt || p.Max > MaxBatch {
		return fmt.Errorf("batch profile min %d, opt %d, max %d: need 1 <= min <= opt <= max <= %d", p.Min, p.Opt, p.Max, MaxBatch)
	}
	return nil
}

// TensorInfo describes an engine input or output. Shape has -1 for the batch axis.
type TensorInfo struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"` // "float32", "float16", "int32", ...
	Shape []int64 `json:"shape"`
}

// The element types an engine header may name.
var dtypes = []string{"float32", "float16", "bfloat16", "int8", "uint8", "int32", "int64", "bool", "other"}

// Header describes an engine file: how, where and from what model its plan was built.
type Header struct {
	// TensorRT is the library that built the plan; Headers the TensorRT headers the shim was
	// compiled against.
	TensorRT          Version               `json:"tensorrt"`
	Headers           Version               `json:"tensorrt_headers"`
	CUDARuntime       int                   `json:"cuda_runtime"` // e.g. 12080 for 12.8
	GPU               GPU                   `json:"gpu"`
	VersionCompatible bool                  `json:"version_compatible"`
	Hardware          HardwareCompatibility `json:"hardware_compatibility"`
	FP16              bool                  `json:"fp16"` // half precision allowed (TensorRT 10 flag) or typed in the graph
	TF32              bool                  `json:"tf32"`
	WorkspaceMiB      int64                 `json:"workspace_mib,omitempty"` // 0: TensorRT's default
	Profile           Profile               `json:"profile"`
	Inputs            []TensorInfo          `json:"inputs"`
	Outputs           []TensorInfo          `json:"outputs"`
	// Category, Normalisers and Model come from the .csad model the graph was exported from:
	// its category, scalar normalisation statistics and whole header (JSON).
	Category    string             `json:"category,omitempty"`
	Normalisers map[string]float64 `json:"normalisers,omitempty"`
	Model       json.RawMessage    `json:"model,omitempty"`
	Created     string             `json:"created,omitempty"` // RFC 3339
	Tool        string             `json:"tool,omitempty"`
	// PlanSize and PlanCRC32C (Castagnoli) describe the plan after the header; the encoder
	// sets them.
	PlanSize   int64  `json:"plan_size"`
	PlanCRC32C uint32 `json:"plan_crc32c"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeEngine writes h and plan as an engine file; it sets h's PlanSize and PlanCRC32C.
func EncodeEngine(w io.Writer, h Header, plan []byte) error {
	h.PlanSize = int64(len(plan))
	h.PlanCRC32C = crc32.Checksum(plan, castagnoli)
	if err := h.validate(); err != nil {
		return fmt.Errorf("trt: encode engine: %w", err)
	}
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("trt: encode engine header: %w", err)
	}
	if len(js) > MaxHeaderBytes {
		return fmt.Errorf("trt: encode engine: the header has %d bytes, more than %d", len(js), MaxHeaderBytes)
	}
	var pre [prefixBytes]byte
	copy(pre[:], Magic)
	binary.LittleEndian.PutUint32(pre[len(Magic):], FormatVersion)
	binary.LittleEndian.PutUint32(pre[len(Magic)+4:], uint32(len(js)))
	for _, b := range [][]byte{pre[:], js, plan} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("trt: write engine: %w", err)
		}
	}
	return nil
}

// DecodeEngine splits an engine file into its header and plan. The plan aliases data. A file
// that is not an engine file, is truncated, was written by a newer format or whose plan does
// not match its checksum is an error that says which.
func DecodeEngine(data []byte) (Header, []byte, error) {
	h, n, err := ReadHeader(bytes.NewReader(data))
	if err != nil {
		return Header{}, nil, err
	}
	rest := data[n:]
	if int64(len(rest)) != h.PlanSize {
		return Header{}, nil, fmt.Errorf("trt: engine file: the header announces a %d-byte plan, the file holds %d bytes after the header: %s",
			h.PlanSize, len(rest), truncatedHint(int64(len(rest)), h.PlanSize))
	}
	if sum := crc32.Checksum(rest, castagnoli); sum != h.PlanCRC32C {
		return Header{}, nil, fmt.Errorf("trt: engine file: the plan's CRC-32C is %08x, the header says %08x: the file is damaged; rebuild it with build-engine", sum, h.PlanCRC32C)
	}
	return h, rest, nil
}

func truncatedHint(have, want int64) string {
	if have < want {
		return "the file is truncated (an interrupted copy?); copy or rebuild it"
	}
	return "the file has trailing bytes; it is damaged, rebuild it"
}

// ReadHeader reads an engine file's header from r and returns it with the offset of the plan.
// It reads at most 16+MaxHeaderBytes bytes and never the plan.
func ReadHeader(r io.Reader) (Header, int64, error) {
	var pre [prefixBytes]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return Header{}, 0, fmt.Errorf("trt: read engine file: %w", err)
		}
		if n < len(Magic) || string(pre[:len(Magic)]) == Magic {
			return Header{}, 0, fmt.Errorf("trt: engine file: %d bytes, too short for an engine file (a truncated file, or not one)", n)
		}
	}
	if string(pre[:len(Magic)]) != Magic {
		return Header{}, 0, errors.New("trt: not a csad engine file (no CSADTRT magic): make one with build-engine; " +
			"a raw TensorRT plan (build-engine -plan) is for Triton and has no header to check")
	}
	if v := binary.LittleEndian.Uint32(pre[len(Magic):]); v != FormatVersion {
		if v > FormatVersion {
			return Header{}, 0, fmt.Errorf("trt: engine file format %d is newer than this csad-go reads (%d): update csad-go or rebuild the engine with this build-engine", v, FormatVersion)
		}
		return Header{}, 0, fmt.Errorf("trt: engine file format %d is not one this csad-go reads (%d): rebuild the engine", v, FormatVersion)
	}
	n := binary.LittleEndian.Uint32(pre[len(Magic)+4:])
	if n == 0 || n > MaxHeaderBytes {
		return Header{}, 0, fmt.Errorf("trt: engine file: a %d-byte header is outside (0, %d]: the file is damaged", n, MaxHeaderBytes)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return Header{}, 0, fmt.Errorf("trt: engine file: the %d-byte header is truncated: %w", n, err)
	}
	var h Header
	if err := json.Unmarshal(js, &h); err != nil {
		return Header{}, 0, fmt.Errorf("trt: engine file: the header is not valid JSON (%v): the file is damaged", err)
	}
	if err := h.validate(); err != nil {
		return Header{}, 0, fmt.Errorf("trt: engine file: %w", err)
	}
	return h, int64(prefixBytes) + int64(n), nil
}

// ReadHeaderFile reads the header of the engine file at path.
func ReadHeaderFile(path string) (Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, fmt.Errorf("trt: %w", err)
	}
	defer f.Close()
	h, _, err := ReadHeader(f)
	if err != nil {
		return Header{}, fmt.Errorf("%w (reading %s)", err, path)
	}
	return h, nil
}

// validate checks what a header says before anything trusts it.
func (h *Header) validate() error {
	for _, v := range []Version{h.TensorRT, h.Headers} {
		if v.Major < 1 || v.Major > 999 || v.Minor < 0 || v.Minor > 999 || v.Patch < 0 || v.Patch > 999 || v.Build < 0 || v.Build > 1<<20 {
			return fmt.Errorf("TensorRT version %s is not a TensorRT version", v)
		}
	}
	if h.GPU.Name == "" || len(h.GPU.Name) > 256 || h.GPU.Major < 1 || h.GPU.Major > 99 || h.GPU.Minor < 0 || h.GPU.Minor > 99 {
		return fmt.Errorf("GPU %q with compute capability %d.%d is not a CUDA device", trim(h.GPU.Name), h.GPU.Major, h.GPU.Minor)
	}
	if !slices.Contains(HardwareLevels, h.Hardware) {
		return fmt.Errorf("unknown hardware compatibility level %q (want one of %s)", trim(string(h.Hardware)), joinLevels())
	}
	if h.WorkspaceMiB < 0 {
		return fmt.Errorf("negative workspace %d MiB", h.WorkspaceMiB)
	}
	if err := h.Profile.check(); err != nil {
		return err
	}
	if len(h.Inputs) != 1 {
		return fmt.Errorf("%d inputs: csad engines have one", len(h.Inputs))
	}
	if len(h.Outputs) < 1 || len(h.Outputs) > maxTensors {
		return fmt.Errorf("%d outputs: want 1 to %d", len(h.Outputs), maxTensors)
	}
	seen := map[string]bool{}
	for _, t := range append(slices.Clip(h.Inputs), h.Outputs...) {
		if t.Name == "" || len(t.Name) > maxName {
			return fmt.Errorf("a tensor name of %d bytes: want 1 to %d", len(t.Name), maxName)
		}
		if seen[t.Name] {
			return fmt.Errorf("tensor %q is listed twice", trim(t.Name))
		}
		seen[t.Name] = true
		if !slices.Contains(dtypes, t.DType) {
			return fmt.Errorf("tensor %q has the unknown element type %q", trim(t.Name), trim(t.DType))
		}
		if len(t.Shape) > 8 {
			return fmt.Errorf("tensor %q has %d axes, more than TensorRT's 8", trim(t.Name), len(t.Shape))
		}
		for _, d := range t.Shape {
			if d < -1 || d > 1<<31 {
				return fmt.Errorf("tensor %q has the axis size %d", trim(t.Name), d)
			}
		}
	}
	if in := h.Inputs[0]; in.DType != "float32" || len(in.Shape) < 1 {
		return fmt.Errorf("input %q is %s with %d axes: csad engines take a float32 batch", trim(in.Name), in.DType, len(in.Shape))
	}
	for k, v := range h.Normalisers {
		if len(k) > maxName || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("normaliser %q = %v is not a finite statistic", trim(k), v)
		}
	}
	if len(h.Normalisers) > 1024 || len(h.Category) > maxName {
		return errors.New("the model's category or normalisers are implausibly large")
	}
	if len(h.Model) > 0 && !json.Valid(h.Model) {
		return errors.New("the model header is not valid JSON")
	}
	if h.PlanSize < 1 || h.PlanSize > MaxPlanBytes {
		return fmt.Errorf("a %d-byte plan is outside [1, %d]", h.PlanSize, int64(MaxPlanBytes))
	}
	return nil
}

// trim shortens a string from a damaged header for an error message.
func trim(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Runtime is the TensorRT library and GPU a process runs engines with.
type Runtime struct {
	TensorRT Version // the library loaded
	Headers  Version // the headers the shim was compiled against
	GPU      GPU
	Device   int
	Devices  int // CUDA devices visible
	// CUDARuntime and CUDADriver are CUDA versions, e.g. 12080 for 12.8.
	CUDARuntime, CUDADriver int
	TotalMemory             uint64 // bytes of the device's memory
}

// Check tells whether an engine with header h runs on rt. It returns an error wrapping
// ErrIncompatible that names both sides when it does not, and a warning for a combination
// TensorRT accepts but advises against (another GPU model of the same compute capability).
func (h *Header) Check(rt Runtime) (warning string, err error) {
	built := fmt.Sprintf("TensorRT %s on %s", h.TensorRT, h.GPU)
	here := fmt.Sprintf("TensorRT %s on %s", rt.TensorRT, rt.GPU)
	incompatible := func(why, fix string) error {
		return fmt.Errorf("%w: the engine was built with %s; this process has %s: %s; %s", ErrIncompatible, built, here, why, fix)
	}
	if h.VersionCompatible {
		if rt.TensorRT.Major != h.TensorRT.Major || rt.TensorRT.less(h.TensorRT) {
			return "", incompatible("a version-compatible engine runs on the same or a later TensorRT of the same major version",
				"rebuild it here with build-engine")
		}
	} else if rt.TensorRT != h.TensorRT {
		return "", incompatible("an engine runs only on the TensorRT version that built it",
			"rebuild it here with build-engine (or build it with -version-compatible)")
	}
	sameCC := rt.GPU.Major == h.GPU.Major && rt.GPU.Minor == h.GPU.Minor
	switch h.Hardware {
	case HardwareAmperePlus:
		if rt.GPU.Major < 8 {
			return "", incompatible("an ampere+ engine needs compute capability 8.0 or newer", "rebuild it here with build-engine")
		}
		return "", nil
	default:
		if !sameCC {
			return "", incompatible("the compute capabilities differ",
				"rebuild it here with build-engine (or build it with -hardware-compatibility ampere+)")
		}
	}
	if rt.GPU.Name != h.GPU.Name && h.Hardware == HardwareNone {
		return fmt.Sprintf("the engine was built on %s and runs on %s: TensorRT accepts the same compute capability, but its kernels were timed on the other GPU; rebuild it here for the best speed", h.GPU, rt.GPU), nil
	}
	return "", nil
}
