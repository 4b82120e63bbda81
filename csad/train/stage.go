package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/csad-go/csad/internal/atomicfile"
)

// Manifest records what a stage was run with, so a rerun can skip a stage whose outputs are up
// to date (the way make decides): the stage's resolved options, the seed, digests of its input
// files and the outputs it wrote. A stage is up to date when its manifest exists, its options and
// input digests are unchanged and its outputs exist.
type Manifest struct {
	Stage   string            `json:"stage"`
	Options json.RawMessage   `json:"options"`
	Inputs  map[string]string `json:"inputs"` // path → sha256
	Outputs []string          `json:"outputs"`
	Seconds float64           `json:"seconds"`
}

func manifestPath(dir, stage string) string { return filepath.Join(dir, stage+".manifest.json") }

// digest hashes files (a folder: every file under it, in sorted order).
func digest(paths ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range paths {
		var files []string
		err := filepath.WalkDir(p, func(f string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				files = append(files, f)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("train: inputs: %w", err)
		}
		slices.Sort(files)
		h := sha256.New()
		for _, f := range files {
			r, err := os.Open(f)
			if err != nil {
				return nil, fmt.Errorf("train: inputs: %w", err)
			}
			io.WriteString(h, f)
			_, err = io.Copy(h, r)
			r.Close()
			if err != nil {
				return nil, fmt.Errorf("train: inputs: %w", err)
			}
		}
		out[p] = hex.EncodeToString(h.Sum(nil))
	}
	return out, nil
}

// upToDate reports whether stage's manifest in dir matches want and its outputs exist.
func upToDate(dir string, want Manifest) bool {
	b, err := os.ReadFile(manifestPath(dir, want.Stage))
	if err != nil {
		return false
	}
	var got Manifest
	if json.Unmarshal(b, &got) != nil || compact(got.Options) != compact(want.Options) || len(got.Inputs) != len(want.Inputs) {
		return false
	}
	for k, v := range want.Inputs {
		if got.Inputs[k] != v {
			return false
		}
	}
	for _, o := range got.Outputs {
		if _, err := os.Stat(o); err != nil {
			return false
		}
	}
	return true
}

func writeManifest(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(manifestPath(dir, m.Stage), append(b, '\n'))
}

var errStageOrder = errors.New("train: a stage's inputs are missing: run the earlier stages first (omit -stages to run them all)")

// compact is the canonical text of a JSON value (manifests are written indented).
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
