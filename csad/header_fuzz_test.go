package csad

import (
	"encoding/json"
	"strings"
	"testing"
)

// smallShapes are the tensor shapes of a SmallConfig(5) model, as a .csad file stores them.
func smallShapes() shapes {
	c := SmallConfig(5)
	s := shapes{
		"encoder.conv1.weight":            {c.Encoder.Stem, 3, 7, 7},
		"teacher.proj.weight":             {c.TeacherChannels, c.Encoder.Out[1] + c.Encoder.Out[2], 1, 1},
		"local_st.conv1.weight":           {c.Student.Conv1, 3, 4, 4},
		"local_st.conv2.weight":           {c.Student.Width, c.Student.Conv1, 4, 4},
		"autoencoder.enconv1.weight":      {c.AutoEncoder.Base, 3, 4, 4},
		"autoencoder.enconv3.weight":      {c.AutoEncoder.Mid, c.AutoEncoder.Base, 4, 4},
		"autoencoder.enconv6.weight":      {c.AutoEncoder.Mid, c.AutoEncoder.Mid, 8, 8},
		"segmentor.reduce.conv.weight":    {c.Segmentor.Reduce, c.Encoder.Out[0], 1, 1},
		"segmentor.fc1.conv.weight":       {c.Segmentor.Width, 5 * c.Segmentor.Width, 1, 1},
		"segmentor.fc2.conv3.weight":      {c.Segmentor.Classes, c.Segmentor.Width, 1, 1},
		"encoder.layer1.0.conv2.weight":   {c.Encoder.Mid[0], c.Encoder.Mid[0], 3, 3},
		"encoder.layer1.0.conv3.weight":   {c.Encoder.Out[0], c.Encoder.Mid[0], 1, 1},
		"encoder.layer2.0.conv2.weight":   {c.Encoder.Mid[1], c.Encoder.Mid[1], 3, 3},
		"encoder.layer2.0.conv3.weight":   {c.Encoder.Out[1], c.Encoder.Mid[1], 1, 1},
		"encoder.layer3.0.conv2.weight":   {c.Encoder.Mid[2], c.Encoder.Mid[2], 3, 3},
		"encoder.layer3.0.conv3.weight":   {c.Encoder.Out[2], c.Encoder.Mid[2], 1, 1},
		"encoder.layer1.0.conv1.weight":   {c.Encoder.Mid[0], c.Encoder.Stem, 1, 1},
		"encoder.layer2.0.conv1.weight":   {c.Encoder.Mid[1], c.Encoder.Out[0], 1, 1},
		"encoder.layer2.1.conv1.weight":   {c.Encoder.Mid[1], c.Encoder.Out[1], 1, 1},
		"encoder.layer3.0.conv1.weight":   {c.Encoder.Mid[2], c.Encoder.Out[1], 1, 1},
		"patch_hist_detector.hist_mean":   {c.Segmentor.Classes, 1},
		"patch_hist_detector.hist_invcov": {c.Segmentor.Classes, c.Segmentor.Classes},
	}
	return s
}

func smallHeader(t testing.TB) []byte {
	h := Header{Format: ModelFormat, Version: ModelVersion, Category: "x", Classes: 5, ImageSize: 256, Config: SmallConfig(5)}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A header is checked against the stored weights before anything is allocated: a header that
// promises a million encoder blocks, or negative dilations, is refused with the reason.
func TestCheckHeader(t *testing.T) {
	good := smallHeader(t)
	if _, err := checkHeader(good, smallShapes()); err != nil {
		t.Fatalf("a consistent header is refused: %v", err)
	}
	edit := func(f func(h *Header)) []byte {
		var h Header
		if err := json.Unmarshal(good, &h); err != nil {
			t.Fatal(err)
		}
		f(&h)
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"blocks", edit(func(h *Header) { h.Config.Encoder.Blocks[0] = 1000000 }), "encoder.blocks[0] must be in 1..64"},
		{"dilations", edit(func(h *Header) { h.Config.Segmentor.Dilations = []int64{-6, 0, 18} }), "segmentor.dilations[0] must be in 1..256"},
		{"classes", edit(func(h *Header) { h.Config.Segmentor.Classes = 6 }), "segmentor.classes 6 ≠ 5"},
		{"width", edit(func(h *Header) { h.Config.Student.Width = 1 << 40 }), "student.width must be in 1..16384"},
		{"consistent but wrong", edit(func(h *Header) { h.Config.Encoder.Blocks[2] = 2 }), "encoder.blocks"},
		{"version", edit(func(h *Header) { h.Version = 99 }), "versions 1..1"},
		{"not json", []byte("{"), "bad header"},
	}
	for _, c := range cases {
		_, err := checkHeader(c.raw, smallShapes())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
}

// FuzzCheckHeader: no header makes the checker panic, and whatever it accepts matches the
// stored weights (so the network it leads to is no larger than the file).
func FuzzCheckHeader(f *testing.F) {
	f.Add(smallHeader(f))
	f.Add([]byte(`{"format":"csad-model","version":1,"config":{"image_size":256,"feature_size":64,"encoder":{"blocks":[1000000,1,1]}}}`))
	f.Add([]byte(`{"format":"csad-model","version":1,"config":{"segmentor":{"dilations":[-6,0,18]}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, err := checkHeader(raw, smallShapes())
		if err != nil {
			return
		}
		want := SmallConfig(5)
		want.Segmentor.Dilations = h.Config.Segmentor.Dilations
		if d := h.Config.mismatches(want); len(d) > 0 {
			t.Fatalf("accepted a header that does not match the weights: %v", d)
		}
	})
}
