// Command scorer is the program of the external-module check (internal/externaltest): it lives
// in a module of its own, outside the csad-go checkout, and uses csad-go only through its
// public API. It loads a model file, scores one PNG image and prints the result as JSON, with
// digests of the maps so that the test can compare them bit for bit.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
)

// Report is what the program prints; the test decodes the same fields.
type Report struct {
	LibTorch     string  `json:"libtorch"`
	Score        float64 `json:"score"`
	LGST         float64 `json:"lgst"`
	PatchHist    float64 `json:"patch_hist"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	AnomalyMap   string  `json:"anomaly_map_sha256"`
	Segmentation string  `json:"segmentation_sha256"`
}

func main() {
	model := flag.String("model", "", "the .csad model file")
	image := flag.String("image", "", "the PNG image to score")
	flag.Parse()
	if err := run(*model, *image, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "scorer:", err)
		os.Exit(1)
	}
}

func run(modelPath, imagePath string, w io.Writer) error {
	if modelPath == "" || imagePath == "" {
		return fmt.Errorf("give -model and -image")
	}
	f, err := os.Open(imagePath)
	if err != nil {
		return err
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", imagePath, err)
	}
	// One thread: the test scores in its own process with the same count, and reductions split
	// their work by thread.
	m, err := csad.Load(modelPath, csad.Options{Threads: 1})
	if err != nil {
		return err
	}
	defer m.Close()
	r, err := m.Score(context.Background(), img)
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(Report{
		LibTorch: torch.Version(), Score: r.Score, LGST: r.LGST, PatchHist: r.PatchHist,
		Width: r.Width, Height: r.Height,
		AnomalyMap: digest(r.AnomalyMap), Segmentation: digestBytes(r.Segmentation),
	})
}

// digest hashes the float32 bits in little-endian order, the order the test hashes them in.
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
