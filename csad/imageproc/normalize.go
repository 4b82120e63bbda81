package imageproc

import (
	"fmt"
	"image"
)

// ImageNet channel statistics used by torchvision's Normalize in CSAD,
// stored as float32 because torchvision turns them into float32 tensors
// before subtracting and dividing.
var (
	Mean = [3]float32{0.485, 0.456, 0.406}
	Std  = [3]float32{0.229, 0.224, 0.225}
)

// Normalize returns torchvision's Normalize(Mean, Std)(ToTensor(img)) as a
// CHW float32 slice of length 3·H·W: channel c of pixel (x, y) is at
// c·H·W + y·W + x.
//
// The float32 operations are those of torchvision, in its order, each
// rounded to float32: v = p / 255 (ToTensor: img.float().div(255)), then
// (v − mean) / std (tensor.sub_(mean).div_(std)). Dividing by std is not
// replaced by multiplying by 1/std, nor p/255 by a lookup of a different
// formula, because either changes the last bit of some values and the
// networks' inputs would no longer be bit-identical to PyTorch's.
func Normalize(img *RGB) []float32 {
	n := img.W * img.H
	if len(img.Pix) != 3*n {
		panic(fmt.Sprintf("imageproc: normalize: %d bytes for a %d×%d RGB image", len(img.Pix), img.W, img.H))
	}
	// Only 256 distinct inputs per channel: tabulate them with the exact
	// torchvision arithmetic.
	var lut [3][256]float32
	for c := range lut {
		for p := range lut[c] {
			v := float32(p) / 255
			v = float32(v - Mean[c])
			lut[c][p] = float32(v / Std[c])
		}
	}
	out := make([]float32, 3*n)
	r, g, b := out[:n], out[n:2*n], out[2*n:]
	for i := 0; i < n; i++ {
		r[i] = lut[0][img.Pix[3*i]]
		g[i] = lut[1][img.Pix[3*i+1]]
		b[i] = lut[2][img.Pix[3*i+2]]
	}
	return out
}

// Preprocess is the whole image preparation of CSAD (method spec §1.2):
// convert to RGB (see [FromImage]; an *RGB is used as it is), resize the
// whole image to size×size with [ResizeBilinear] (aspect ratio not kept, no
// padding), then [Normalize]. The result is the (3, size, size) network
// input in CHW order.
func Preprocess(img image.Image, size int) []float32 {
	rgb, ok := img.(*RGB)
	if !ok {
		rgb = FromImage(img)
	}
	return Normalize(ResizeBilinear(rgb, size, size))
}
