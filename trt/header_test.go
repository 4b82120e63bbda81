package trt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleHeader is a header as Build writes it for the paper-size graph with maps.
func sampleHeader() Header {
	return Header{
		TensorRT: Version{10, 16, 0, 32}, Headers: Version{10, 16, 0, 32}, CUDARuntime: 12080,
		GPU:      GPU{Name: "NVIDIA H200", Major: 9, Minor: 0},
		Hardware: HardwareNone, Profile: Profile{Min: 1, Opt: 4, Max: 8},
		Inputs: []TensorInfo{{Name: "input", DType: "float32", Shape: []int64{-1, 3, 256, 256}}},
		Outputs: []TensorInfo{
			{Name: "score", DType: "float32", Shape: []int64{-1}},
			{Name: "segmentation", DType: "int32", Shape: []int64{-1, 256, 256}},
		},
		Category: "breakfast_box", Normalisers: map[string]float64{"q_st_start": 0.25},
		Model: json.RawMessage(`{"category":"breakfast_box"}`), Created: "2026-01-01T00:00:00Z", Tool: "test",
	}
}

func encode(t testing.TB, h Header, plan []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, EncodeEngine(&buf, h, plan))
	return buf.Bytes()
}

func TestEngineFileRoundTrip(t *testing.T) {
	plan := []byte("ftrt-not-really-a-plan-but-bytes")
	data := encode(t, sampleHeader(), plan)
	require.Equal(t, Magic, string(data[:8]))

	h, got, err := DecodeEngine(data)
	require.NoError(t, err)
	assert.Equal(t, plan, got)
	want := sampleHeader()
	want.PlanSize = int64(len(plan))
	want.PlanCRC32C = h.PlanCRC32C
	assert.Equal(t, want, h)
	assert.NotZero(t, h.PlanCRC32C)

	// ReadHeader stops before the plan and says where it starts.
	h2, off, err := ReadHeader(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, h, h2)
	assert.Equal(t, int64(len(data)-len(plan)), off)
}

func TestDecodeEngineErrors(t *testing.T) {
	plan := bytes.Repeat([]byte{7}, 100)
	good := encode(t, sampleHeader(), plan)
	headerLen := binary.LittleEndian.Uint32(good[12:])

	withFormat := func(v uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[8:], v)
		return b
	}
	withHeaderLen := func(n uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[12:], n)
		return b
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 0xff
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "0 bytes, too short"},
		{"truncated prefix", good[:11], "11 bytes, too short"},
		{"truncated header", good[:16+headerLen/2], "header is truncated"},
		{"truncated plan", good[:len(good)-1], "the file is truncated"},
		{"trailing bytes", append(bytes.Clone(good), 0), "trailing bytes"},
		{"wrong magic", append([]byte("PK\x03\x04xxxxxxxxxxxx"), good[16:]...), "not a csad engine file"},
		{"raw plan", append([]byte("ftrt"), plan...), "not a csad engine file"},
		{"newer format", withFormat(FormatVersion + 1), "newer than this csad-go reads"},
		{"format 0", withFormat(0), "not one this csad-go reads"},
		{"huge header length", withHeaderLen(1 << 31), "outside (0, 1048576]"},
		{"zero header length", withHeaderLen(0), "outside (0, 1048576]"},
		{"damaged plan", flipped, "CRC-32C"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := DecodeEngine(c.data)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.True(t, strings.HasPrefix(err.Error(), "trt: "), err.Error())
		})
	}
}

// A header that decodes as JSON but says something impossible is refused with the reason.
func TestHeaderValidation(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Header)
		want string
	}{
		{"no TensorRT version", func(h *Header) { h.TensorRT = Version{} }, "not a TensorRT version"},
		{"no GPU", func(h *Header) { h.GPU = GPU{} }, "not a CUDA device"},
		{"unknown hardware level", func(h *Header) { h.Hardware = "turing+" }, "unknown hardware compatibility level"},
		{"profile min 0", func(h *Header) { h.Profile.Min = 0 }, "need 1 <= min <= opt <= max"},
		{"profile opt > max", func(h *Header) { h.Profile.Opt = 9 }, "need 1 <= min <= opt <= max"},
		{"profile too large", func(h *Header) { h.Profile.Max = MaxBatch + 1; h.Profile.Opt = 8 }, "need 1 <= min <= opt <= max"},
		{"two inputs", func(h *Header) { h.Inputs = append(h.Inputs, h.Inputs[0]) }, "2 inputs"},
		{"no outputs", func(h *Header) { h.Outputs = nil }, "0 outputs"},
		{"duplicate name", func(h *Header) { h.Outputs[1].Name = "score" }, "listed twice"},
		{"unnamed tensor", func(h *Header) { h.Outputs[0].Name = "" }, "tensor name of 0 bytes"},
		{"unknown dtype", func(h *Header) { h.Outputs[0].DType = "complex64" }, "unknown element type"},
		{"nine axes", func(h *Header) { h.Outputs[0].Shape = make([]int64, 9) }, "9 axes"},
		{"negative axis", func(h *Header) { h.Outputs[0].Shape = []int64{-2} }, "axis size -2"},
		{"int input", func(h *Header) { h.Inputs[0].DType = "int32" }, "take a float32 batch"},
		{"negative workspace", func(h *Header) { h.WorkspaceMiB = -1 }, "negative workspace"},
		{"bad model JSON", func(h *Header) { h.Model = json.RawMessage(`{"x":`) }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := sampleHeader()
			c.edit(&h)
			var buf bytes.Buffer
			err := EncodeEngine(&buf, h, []byte{1})
			require.Error(t, err, "the encoder must refuse what the decoder would")
			assert.Contains(t, err.Error(), c.want)

			// The same header written by someone else is refused by the reader.
			h.PlanSize, h.PlanCRC32C = 1, 0
			js, err := json.Marshal(h)
			if err != nil {
				return // not even JSON (the bad model header): nothing to write
			}
			var raw bytes.Buffer
			raw.WriteString(Magic)
			require.NoError(t, binary.Write(&raw, binary.LittleEndian, uint32(FormatVersion)))
			require.NoError(t, binary.Write(&raw, binary.LittleEndian, uint32(len(js))))
			raw.Write(js)
			raw.WriteByte(1)
			_, _, err = DecodeEngine(raw.Bytes())
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestHeaderCheckRuntime(t *testing.T) {
	h200 := GPU{Name: "NVIDIA H200", Major: 9, Minor: 0}
	h100 := GPU{Name: "NVIDIA H100 80GB HBM3", Major: 9, Minor: 0}
	l4 := GPU{Name: "NVIDIA L4", Major: 8, Minor: 9}
	t4 := GPU{Name: "Tesla T4", Major: 7, Minor: 5}
	v10160 := Version{10, 16, 0, 32}
	cases := []struct {
		name    string
		edit    func(*Header)
		rt      Runtime
		err     string // "" for compatible
		warning string
	}{
		{"same everything", nil, Runtime{TensorRT: v10160, GPU: h200}, "", ""},
		{"other patch", nil, Runtime{TensorRT: Version{10, 16, 1, 5}, GPU: h200},
			"built with TensorRT 10.16.0.32 on NVIDIA H200 (compute capability 9.0); this process has TensorRT 10.16.1.5 on NVIDIA H200", ""},
		{"TensorRT 11", nil, Runtime{TensorRT: Version{11, 1, 0, 106}, GPU: h200}, "-version-compatible", ""},
		{"version-compatible, later minor", func(h *Header) { h.VersionCompatible = true },
			Runtime{TensorRT: Version{10, 17, 0, 1}, GPU: h200}, "", ""},
		{"version-compatible, earlier", func(h *Header) { h.VersionCompatible = true },
			Runtime{TensorRT: Version{10, 15, 0, 1}, GPU: h200}, "same or a later TensorRT of the same major", ""},
		{"version-compatible, next major", func(h *Header) { h.VersionCompatible = true },
			Runtime{TensorRT: Version{11, 1, 0, 106}, GPU: h200}, "same or a later TensorRT of the same major", ""},
		{"other compute capability", nil, Runtime{TensorRT: v10160, GPU: l4},
			"on NVIDIA L4 (compute capability 8.9): the compute capabilities differ", ""},
		{"same compute capability, other GPU", nil, Runtime{TensorRT: v10160, GPU: h100}, "", "rebuild it here for the best speed"},
		{"same-compute-capability level", func(h *Header) { h.Hardware = HardwareSameComputeCapability },
			Runtime{TensorRT: v10160, GPU: h100}, "", ""},
		{"same-compute-capability level, other", func(h *Header) { h.Hardware = HardwareSameComputeCapability },
			Runtime{TensorRT: v10160, GPU: l4}, "the compute capabilities differ", ""},
		{"ampere+ on Ada", func(h *Header) { h.Hardware = HardwareAmperePlus }, Runtime{TensorRT: v10160, GPU: l4}, "", ""},
		{"ampere+ on Turing", func(h *Header) { h.Hardware = HardwareAmperePlus }, Runtime{TensorRT: v10160, GPU: t4},
			"needs compute capability 8.0 or newer", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := sampleHeader()
			if c.edit != nil {
				c.edit(&h)
			}
			warning, err := h.Check(c.rt)
			if c.err == "" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrIncompatible))
				assert.Contains(t, err.Error(), c.err)
			}
			if c.warning == "" {
				assert.Empty(t, warning)
			} else {
				assert.Contains(t, warning, c.warning)
			}
		})
	}
}

func TestBuiltWriteFileAndPlan(t *testing.T) {
	dir := t.TempDir()
	b := &Built{Header: sampleHeader(), Plan: []byte("plan bytes")}
	engine := filepath.Join(dir, "m.engine")
	require.NoError(t, b.WriteFile(engine))
	h, err := ReadHeaderFile(engine)
	require.NoError(t, err)
	assert.Equal(t, "breakfast_box", h.Category)
	assert.Equal(t, int64(len(b.Plan)), h.PlanSize)
	data, err := os.ReadFile(engine)
	require.NoError(t, err)
	_, plan, err := DecodeEngine(data)
	require.NoError(t, err)
	assert.Equal(t, b.Plan, plan)

	raw := filepath.Join(dir, "model.plan")
	require.NoError(t, b.WritePlan(raw))
	got, err := os.ReadFile(raw)
	require.NoError(t, err)
	assert.Equal(t, b.Plan, got, "-plan writes TensorRT's bytes alone")
	_, err = ReadHeaderFile(raw)
	require.ErrorContains(t, err, "not a csad engine file")

	// A header the encoder refuses leaves no file and no temporary file behind.
	bad := &Built{Header: Header{}, Plan: []byte{1}}
	require.Error(t, bad.WriteFile(filepath.Join(dir, "bad.engine")))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"m.engine", "model.plan"}, names)
}

func TestParseHardwareCompatibility(t *testing.T) {
	for _, s := range []string{"", "none", "ampere+", "same-compute-capability"} {
		h, err := ParseHardwareCompatibility(s)
		require.NoError(t, err, s)
		assert.Contains(t, HardwareLevels, h)
	}
	_, err := ParseHardwareCompatibility("hopper+")
	require.ErrorContains(t, err, `unknown hardware compatibility level "hopper+": want one of none, ampere+, same-compute-capability`)
}
