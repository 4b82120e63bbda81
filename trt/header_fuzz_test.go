package trt

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecodeEngine feeds damaged engine files to the decoder: every input must give a header
// and plan or an error, never a panic, and nothing may be allocated beyond what the input
// holds (the header length is checked against MaxHeaderBytes before the buffer is made).
func FuzzDecodeEngine(f *testing.F) {
	good := encode(f, sampleHeader(), []byte("a plan"))
	f.Add(good)
	f.Add(good[:10])
	f.Add(good[:40])
	f.Add(good[:len(good)-2])
	f.Add([]byte("CSADTRT\x00\x02\x00\x00\x00\x10\x00\x00\x00{}"))
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[12:], 0xffffffff)
	f.Add(huge)
	f.Add([]byte(Magic + "\x01\x00\x00\x00\x02\x00\x00\x00{}"))
	f.Add([]byte(Magic + "\x01\x00\x00\x00\x30\x00\x00\x00" + `{"plan_size":99999999999,"profile":{"max":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, plan, err := DecodeEngine(data)
		if err != nil {
			return
		}
		if int64(len(plan)) != h.PlanSize || len(plan) >= len(data) {
			t.Fatalf("decoded a %d-byte plan from %d bytes, header says %d", len(plan), len(data), h.PlanSize)
		}
		// Whatever decodes must encode again to the same bytes' meaning.
		var buf bytes.Buffer
		if err := EncodeEngine(&buf, h, plan); err != nil {
			t.Fatalf("a decoded header does not encode: %v", err)
		}
		h2, plan2, err := DecodeEngine(buf.Bytes())
		if err != nil || !bytes.Equal(plan, plan2) || h2.PlanCRC32C != h.PlanCRC32C {
			t.Fatalf("re-encoding changed the engine: %v", err)
		}
	})
}
