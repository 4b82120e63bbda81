// Package tiffmap reads and writes anomaly maps as single-channel float32
// TIFF files, the format the official MVTec LOCO AD evaluation reads with
// tifffile.imread and the format the csad scorer writes.
//
// Write produces a baseline little-endian TIFF: one uncompressed strip,
// BitsPerSample 32, SampleFormat 3 (IEEE float), one sample per pixel. Read
// accepts what common writers (tifffile, libtiff, Pillow) produce for such
// maps: either byte order, any number of strips, no compression or Deflate
// without predictor. Tiled, multi-channel, BigTIFF and non-float files are
// rejected with an error saying what was found. Python's tifffile.imread
// reads what Write produces bit for bit (tested).
//
// WriteFile writes atomically: a temporary file in the same folder, renamed
// over the target when complete (internal/atomicfile), so a reader or a run
// killed mid-write never sees a truncated map. [Map.Resize] resizes a map
// bilinearly as PyTorch's F.interpolate(align_corners=False) does, for maps
// wanted at another size than the image's.
//
// # Ownership and threading
//
// A Map owns its Pix slice; functions keep no reference to their arguments
// and hold no global state.
package tiffmap
