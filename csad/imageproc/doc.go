// Package imageproc prepares images for the CSAD networks exactly as the
// reference Python pipeline does (method spec §1.2): decode, convert to 8-bit
// RGB as Pillow's convert("RGB"), resize the whole image to 256×256 with
// Pillow's BILINEAR filter, then torchvision's ToTensor and ImageNet
// Normalize. It is pure Go (no cgo) and checked byte for byte against
// Debian's Pillow and torchvision by golden files
// (testdata/gen_imageproc_golden.py).
//
// # Images
//
// [RGB] is 8-bit RGB, row-major, channels interleaved (HWC), the layout of
// numpy.asarray(pil_image). [Load] and [Decode] read PNG and JPEG; the
// conversion to RGB follows Pillow 9/10:
//
//   - RGB: as stored. RGBA and grey+alpha: alpha is dropped, not composited
//     over a background. Grey: replicated to the three channels.
//   - Paletted (any bit depth, with or without tRNS): palette colours.
//   - 16-bit RGB(A) and grey+alpha: the high byte of each sample.
//   - 16-bit grey: Pillow opens it as a 32-bit integer image and clips to
//     0..255, so values above 255 become white; [Load] does the same, to
//     feed the networks what the reference fed them. [FromImage] of a Go
//     image.Gray16 keeps the high byte instead.
//   - JPEG: colour conversion and "fancy" chroma upsampling as libjpeg's;
//     the IDCT is Go's, so a few per cent of the bytes are 1–3 levels off
//     Pillow's. The data set is PNG.
//
// Damaged, truncated, empty and non-image files give an error naming the
// file, e.g. "imageproc: decode a.png: truncated or incomplete data:
// unexpected EOF"; non-image data wraps [ErrFormat]. The header is checked
// before pixels are allocated: images above [MaxPixels] (64 Mpx unless
// [SetMaxPixels] changed it) give an error wrapping [ErrTooLarge].
// [ReadSize] reads only the header.
//
// # Resizing
//
// [ResizeBilinear] ports the 8-bit path of Pillow's Resample.c: an
// antialiased separable triangle filter whose support grows with the
// downscale factor, fixed-point coefficients with 22 fraction bits,
// horizontal pass first, each pass rounding to uint8. It is not the bilinear
// of PyTorch or OpenCV: on a 1600×1280 → 256×256 downscale each output pixel
// averages about 13×11 source pixels, where PyTorch's samples 2×2. Using
// anything else would change every input of the networks trained on
// Pillow-resized images. [ResizeNearest] and [ResizeNearestGray] port
// Pillow's NEAREST for label maps.
//
// # Tensors
//
// [Normalize] and [Preprocess] return CHW float32 slices bitwise equal to
// torchvision's Normalize(ToTensor(img)): the same float32 operations in
// the same order.
//
// # Heat maps
//
// [Overlay] blends an anomaly map, coloured with the jet scale, over an
// image; [WritePNG] writes a PNG atomically (temporary file and rename).
//
// # Ownership and threading
//
// Every function returns new memory and keeps no reference to its
// arguments; the only global state is the [MaxPixels] limit, read and set
// atomically, so all functions are safe to call from several goroutines on
// different images.
package imageproc
