// Command scorer is the program TestBinaryWithoutLibTorch builds in a module of its own: it
// scores one PNG with an exported CSAD graph through package ortscore and prints the result as
// JSON, digests standing for the maps.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/csad-go/csad/csad/imageproc"
	"github.com/csad-go/csad/ortscore"
)

// Report is what the test compares with its own ortscore result.
type Report struct {
	Category     string  `json:"category"`
	Score        float64 `json:"score"`
	LGST         float64 `json:"lgst"`
	PatchHist    float64 `json:"patch_hist"`
	Anomalous    bool    `json:"anomalous"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	Local        string  `json:"local_sha256"`
	Global       string  `json:"global_sha256"`
	AnomalyMap   string  `json:"anomaly_map_sha256"`
	Segmentation string  `json:"segmentation_sha256"`
}

func main() {
	model := flag.String("model", "", "exported .onnx model")
	img := flag.String("image", "", "image file")
	flag.Parse()
	if err := run(*model, *img); err != nil {
		fmt.Fprintln(os.Stderr, "scorer:", err)
		os.Exit(1)
	}
}

func run(model, path string) error {
	s, err := ortscore.Load(model, ortscore.Options{Threads: 1})
	if err != nil {
		return err
	}
	defer s.Close()
	img, err := imageproc.Load(path)
	if err != nil {
		return err
	}
	r, err := s.Score(context.Background(), img)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(Report{
		Category: s.Header().Category, Score: r.Score, LGST: r.LGST, PatchHist: r.PatchHist,
		Anomalous: r.Anomalous, Width: r.Width, Height: r.Height,
		Local: digest(r.Local), Global: digest(r.Global), AnomalyMap: digest(r.AnomalyMap),
		Segmentation: digestBytes(r.Segmentation),
	})
}

func digest(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return digestBytes(b)
}

func digestBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
