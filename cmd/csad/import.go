package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

func init() { rootCmd.AddCommand(newImportCmd()) }

func newImportCmd() *cobra.Command {
	var in, out, category, encoder string
	var classes int64
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Convert an official CSAD checkpoint (or encoder weights) into a .csad model file",
		Long: `Convert the official unified checkpoint (ckpt/pytorch_models/<category>.pth, written by
the official export_model.py) into a .csad model file: one safetensors file holding every weight
and a JSON header. The checkpoint is read without executing pickle code and loaded exactly as
stored, including its teacher.proj.bias, the random draw the official export left there
(docs/method.md). Sizes are read from the tensor shapes, so reduced-width checkpoints import too.

-encoder takes ImageNet WideResNet-50-2 weights from torchvision or timm (.pth or .safetensors;
layer4 and fc are dropped). With -in, they replace the checkpoint's encoder. Without -in, they
go into a fresh paper-size model with -classes segmentor classes, PyTorch's default
initialisation elsewhere and neutral normalisers: a starting point for training. One of -in
and -encoder is required.

Inputs are recognised by their content, not their name: a PyTorch checkpoint is the zip archive
torch.save writes (PyTorch 1.6 and later), a safetensors file starts with its header length
and a JSON header.`,
		Example: "  csad import -in ckpt/pytorch_models/breakfast_box.pth -out breakfast_box.csad\n" +
			"  csad import -encoder wide_resnet50_2-9ba9bcbe.pth -classes 6 -out fresh.csad",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("import: -out is required")
			}
			if in == "" && encoder == "" {
				return fmt.Errorf("import: give -in (an official checkpoint) and/or -encoder (WideResNet-50-2 weights)")
			}
			for _, p := range []string{in, encoder} {
				if p == "" {
					continue
				}
				if err := sniffWeights(p); err != nil {
					return err
				}
			}
			if category == "" && in != "" {
				category = strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
			}
			var net *csad.Network
			var err error
			prov := csad.Provenance{Tool: "csad import"}
			if in != "" {
				net, err = csad.ImportUnified(in)
				prov.Source, prov.Note = in, "official unified checkpoint, loaded as stored"
			} else {
				net, err = csad.NewInitialised(csad.PaperConfig(classes), 0)
				prov.Note = "fresh model: default initialisation (seed 0), neutral normalisers"
			}
			if err != nil {
				return err
			}
			defer net.Close()
			if encoder != "" {
				if err := csad.LoadEncoderWeights(net, encoder); err != nil {
					return err
				}
				prov.Note += "; encoder from " + encoder
			}
			h, err := csad.NewHeader(net, category, prov)
			if err != nil {
				return err
			}
			if err := csad.SaveModel(out, net, h); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: category %q, %s preset, %d classes, %d tensors (LibTorch %s)\n",
				out, h.Category, h.Preset, h.Classes, len(nn.StateDict(net)), torch.Version())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "official unified checkpoint (.pth)")
	f.StringVar(&out, "out", "", "model file to write (.csad)")
	f.StringVar(&category, "category", "", "category name stored in the header (default: the checkpoint's file name)")
	f.StringVar(&encoder, "encoder", "", "torchvision/timm WideResNet-50-2 weights (.pth or .safetensors) for the encoder")
	f.Int64Var(&classes, "classes", 5, "segmentor classes of a fresh model (-encoder without -in)")
	return cmd
}

// sniffWeights checks that path holds a PyTorch checkpoint or a safetensors file before the
// loaders see it: the loaders pick their format from the first bytes, so any other file used to
// be reported as a broken safetensors file, which sent people looking in the wrong place.
func sniffWeights(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if st.IsDir() {
		return fmt.Errorf("import: %s is a folder; give the checkpoint file", path)
	}
	var head [16]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("import: %s: %w", path, err)
	}
	h := head[:n]
	switch {
	case bytes.HasPrefix(h, []byte("PK\x03\x04")):
		return nil // torch.save's zip archive
	case len(h) >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5:
		return nil // a pickle: the legacy torch.save format, which the loader names and refuses
	case len(h) >= 9 && h[8] == '{':
		// safetensors: a little-endian header length, then that many bytes of JSON.
		if hl := binary.LittleEndian.Uint64(h); hl >= 2 && hl <= uint64(st.Size()-8) {
			return nil
		}
	}
	what := fmt.Sprintf("starts with % x", h)
	if n == 0 {
		what = "is empty"
	}
	return fmt.Errorf("import: %s is not a PyTorch checkpoint or safetensors file (it %s): want the .pth that torch.save writes (a zip archive) or a .safetensors file", path, what)
}
