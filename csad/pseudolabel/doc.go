// Package pseudolabel makes the component pseudo-labels of CSAD's Patch
// Histogram branch (method spec §5) without foundation models: a classical
// segmentation stands in for Grounding DINO + SAM-HQ under the spec's
// replacement contract (§5.2), and model-free component descriptors stand in
// for the WideResNet feature of §5.4 unless encoder weights are given (see
// "CNN feature" below). Apart from that feature it is pure Go.
//
// # Segmentation
//
// [Segment] works in CIE Lab (D65, float; see [Lab]) on an image reduced to
// at most SegmentOptions.MaxSide pixels on its long side:
//
//  1. Gaussian blur (σ 0.8) and Felzenszwalb–Huttenlocher graph segmentation
//     on the 8-neighbour grid (edge weight: Lab distance; union-find; scale
//     K; minimum region size).
//  2. Background: the surface colour is fitted as a quadratic function of
//     the position (robust least squares, from a band along the image
//     border, then refitted to the background found), and the background is
//     grown from the regions at the four corners through adjacent regions
//     whose colour matches the fit (darker matches count as cast shadows),
//     then pixel by pixel into regions that mix surface and a part's rim.
//  3. Adjacent foreground regions merge, closest first, when their colours
//     are close in a shading-tolerant distance (xy chromaticity and log
//     luminance) and their shared boundary is not much stronger than the
//     texture inside them (and, for regions of different lightness, not a
//     short contact); specks inside a region merge on colour alone.
//  4. Small or thin leftovers (rims, highlights, shadow slivers) join their
//     most similar neighbour.
//  5. At full resolution: 4-connected components, the §5.1/§5.2 filters
//     (area > 0.1 % of the image, bounding box < 95 %), largest first,
//     at most 255, painted as a merged label map.
//
// It takes about 0.2–0.4 s per 320×256 image on one core.
//
// # Label maps
//
// [Merge], [Split], [SplitConnected], [FilterByCombine], [FillHoles] and
// [FillHolesLabels] are the mask helpers of §5.1, §5.2 and §1.5, checked
// against a NumPy/SciPy re-statement of the official functions
// (testdata/gen_pseudolabel_golden.py). Where the official code deviates from
// its intent an option reproduces it: SplitOptions.KeepZeroRegion (§8.2 item
// 13) and FillHolesOptions.OfficialMerge (the dataloader's class permutation,
// §8.2 item 6).
//
// # Descriptors and clustering
//
// [Describe] computes area, Lab mean and standard deviation, bounding-box
// centre, normalised central and Hu moments, and the official colour feature
// (b/(a+1e-7))² on OpenCV-style 8-bit Lab (stored, not clustered). [Vector]
// selects columns and [Standardize] z-scores them; Run clusters the
// standardised columns with cluster.MeanShift (bandwidth DefaultBandwidth).
//
// # CNN feature
//
// With Options.Encoder (a torchvision or timm wide_resnet50_2 checkpoint
// including layer4, loaded with csad.LoadFeatureExtractor for this stage
// only) Run clusters on the official cnn_image feature of §5.4 alone, as
// every official config does: [Align] cuts each component to a 65×65 crop
// scaled by its minimum-area rectangle, [Rotate] (Pillow's bilinear rotate,
// bit-exact) makes 60 copies, [CNNFeature] averages layer4's output over
// space and rotations, and [Project] maps the 2048 columns to 512 with a
// random N(0, 0.01²) matrix seeded from Options.Seed; MeanShift then uses
// DefaultCNNBandwidth (the official max_hyper 3.5). Without an encoder the
// model-free descriptors below are used.
//
// # Pipeline and files
//
// [Run] is §5.3–5.6 on train/good and writes the §5.1 layout
// (ROOT/<category>/NNN/..., ROOT/<category>/info/...) through a temporary
// folder that replaces the old result only when everything is written.
// [WriteImageMasks] and [ReadImageMasks] write and validate one image's mask
// files, so masks made elsewhere (e.g. by the official Grounded-SAM stage) can
// be clustered with Options.Masks. The .npy files of info/ are written with
// internal/npy.
//
// # Ownership and threading
//
// Every function returns new memory and keeps no reference to its
// arguments; there is no package state, so functions may run concurrently
// on different inputs. Run processes images on Options.Workers goroutines
// (the CNN forwards run one at a time, each on LibTorch's threads); its
// output does not depend on their number. Only Project draws random
// numbers, from its explicit seed.
package pseudolabel
