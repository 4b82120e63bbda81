package csad

import (
	"image"

	"github.com/csad-go/csad/csad/imageproc"
)

// Preprocess prepares an image as the official pipeline does (method spec §1.2): 8-bit RGB,
// Pillow's antialiased bilinear resize of the whole image to size×size, /255, ImageNet
// normalisation. It returns CHW float32.
func Preprocess(img image.Image, size int) []float32 {
	return imageproc.Preprocess(img, size)
}
