// Package augment implements, in pure Go, the training-time augmentations of
// the CSAD segmentor (method spec §1.5 and §4.5): OpenCV's affine warps, the
// albumentations ShiftScaleRotate and RandomBrightnessContrast used on the
// supervised set, and LSA, the labelled logical synthetic anomaly that
// copies parts of an image to other places together with their labels.
//
// Images are 8-bit RGB, row-major, channels interleaved (HWC, numpy's
// layout); label, component and background maps are one byte per pixel.
// Any width and height work; the segmentor uses 256×256. Every random
// choice comes from the *rand.Rand passed in (math/rand/v2, seed it with a
// PCG source), so a seed fixes the output; the streams are not those of
// NumPy or Python's random, so single outputs do not match the official
// code, only their distribution does.
//
// # Warps
//
// [RotationMatrix2D] is cv2.getRotationMatrix2D and [WarpAffine] is
// cv2.warpAffine with BORDER_CONSTANT 0, in OpenCV's integer form: the
// inverse map computed with the same double operations, source positions
// rounded to 1/1024 pixel, [Bilinear] on a 1/32-pixel grid with 15-bit
// weights, [Nearest] to the closest pixel. The results are bitwise equal to
// OpenCV 4.6's (golden files from Debian's python3-opencv,
// testdata/gen_augment_golden.py). RotationMatrix2D can differ from OpenCV
// in the last bit, because Go's sin and cos are not glibc's.
//
// Pillow-compatible NEAREST resizing of label maps (spec §1.5) is
// imageproc.ResizeNearestGray; it is not repeated here.
//
// # ShiftScaleRotate and RandomBrightnessContrast
//
// They follow albumentations 1.4.15, the version of the official code.
// ShiftScaleRotate there is an Affine with keep_ratio=False, so the two
// axes get independent scales 1 + U(−0.01, 0.01) (the spec's "similarity
// transform" is nearly, not exactly, what runs); rotation and scale are
// about the pixel-grid centre (w/2 − 0.5, h/2 − 0.5); the image is warped
// bilinearly and the label map with nearest, both with a 0 border.
// RandomBrightnessContrast maps x to α·x + β·255 through a float32 lookup
// table and truncates after clipping, as albucore does, so 229.5 becomes
// 229. Each applies with its own probability P (0.5 for the segmentor),
// tested as r.Float64() < P.
//
// # LSA
//
// [LSA] follows spec §4.5: candidate parts are the components (values of
// the component map) covering more than 0.1 % of the image whose overlap
// with the labelled area exceeds 0.9; a part with more than 100 unlabelled
// pixels is discarded when drawn; a placement is a target centre, at least
// MinDistance from the part's centre and Boundary from the image edge,
// drawn from 10 000 uniform candidates with weight d², and an integer
// rotation in [0, 359]°; it is accepted when the thresholded warped mask
// overlaps the background by less than 0.5 (phase 1, MinAug pastes) or 0.9
// (phase 2, MaxAug − MinAug single tries), trying up to 500 placements.
//
// By default LSA does what the official code was evidently meant to do;
// each difference from it (spec §8.2 item 7) is a deliberate fix, and
// LSAOptions.Official restores the official behaviour:
//
//   - Labels are warped with nearest, and written only where the nearest
//     source pixel lies in the part, so every written label is one the part
//     carries. Official: bilinear, which invents intermediate labels along
//     edges (a part labelled 4 gets 3s at its border).
//   - After every 10 rejected placements another usable part is drawn and
//     the current one goes back to the pool. Official: the re-draw never
//     runs (attempt+1 % 10 == 0 parses as attempt + 1 == 0).
//   - Phase 1 pastes only an accepted placement; if all 500 fail, another
//     part is tried. Official: the last proposal is pasted even when
//     rejected, possibly onto the background.
//   - An empty warped mask (overlap 0) is not an acceptable placement.
//     Official: it is accepted and pastes nothing, but counts.
//   - Phase 2 tries 500 placements. Official: range(501), pasting only if
//     accepted before the last one.
//   - When no part can be placed the input comes back unchanged with n = 0.
//     Official: running out of parts crashes (an empty random choice);
//     here it is [ErrComponentsExhausted].
//
// In both modes the image is its own source (self-paste), parts are drawn
// with probability ∝ area^WeightPower and not drawn twice (except after a
// re-draw set them aside), and the original part stays in place: the copy
// is added, nothing is removed.
//
// A proposal costs about 0.1–0.3 ms (10 000 candidate points and a warp of
// the part's box). A call on parts that fit takes a few milliseconds; when
// nothing fits, the intended mode tries 500 proposals per usable part and
// the official one about 1000 in all, i.e. tenths of a second up to
// seconds. A data loader should run LSA in parallel workers.
//
// # Ownership and threading
//
// Functions return new slices and never modify or keep their inputs. There
// is no global state; calls with different *rand.Rand values may run
// concurrently. A *rand.Rand itself is not safe for concurrent use.
package augment
