// Package report evaluates image scores (and optionally anomaly maps) of a
// LOCO-layout test set and writes a human report: report.md, the official
// metrics.json and PNG plots.
//
// Inputs are a category folder (package loco), a JSON-lines score file with
// one object per test image,
//
//	{"path": "test/logical_anomalies/000.png", "score": 1.25, "lgst": 0.7, "patch_hist": 0.55}
//
// where lgst and patch_hist (the two CSAD branches) are optional and path may
// be absolute or relative as long as it ends in test/<type>/<file>, and an
// optional folder of float32 TIFF anomaly maps (package tiffmap) the size
// of the image, named after the image path relative to the category folder,
// as the official evaluation lays out <anomaly_maps_dir>/<category>/:
//
//	<maps>/test/good/000.tiff, <maps>/test/logical_anomalies/000.tiff, ...
//
// (.tif is accepted too).
//
// Outputs, in the output folder: metrics.json (the official layout, see
// metrics.Results), report.md, roc.png, hist.png and, with maps,
// worst_cases.png. Each is written to a temporary file and renamed into
// place, so a reader never sees half a file and a rerun into the same folder
// replaces each file whole.
//
// # Ownership and threading
//
// Run reads its inputs, writes its outputs and keeps nothing; concurrent
// runs must use different output folders.
package report
