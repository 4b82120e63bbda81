package main

import (
	"fmt"
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
stored, including its teacher.proj.bias (see the method spec, §8.2 item 3). Sizes are read from
the tensor shapes, so reduced-width checkpoints import too.

With --encoder, ImageNet WideResNet-50-2 weights from torchvision or timm (.pth or .safetensors;
layer4 and fc are dropped) replace the encoder. Without --in this builds a fresh paper-size
model with --classes segmentor classes, PyTorch's default initialisation and neutral normalisers:
a starting point for training.`,
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
	f.Int64Var(&classes, "classes", 5, "segmentor classes of a fresh model (without -in)")
	return cmd
}
