// Package loco reads data sets in the MVTec LOCO AD folder layout:
//
//	<root>/<category>/
//	  train/good/NNN.png
//	  validation/good/NNN.png
//	  test/{good,logical_anomalies,structural_anomalies}/NNN.png
//	  ground_truth/{logical_anomalies,structural_anomalies}/NNN/000.png, 001.png, ...
//	  defects_config.json
//
// Every listing is sorted lexicographically and only *.png files count, so
// that every branch of CSAD sees the images in the same order (the official
// Python code relied on Windows returning sorted listings; see the method
// spec §1.1). A test image in folder good has label 0, any other test folder
// label 1, and its defect type is the folder name.
//
// Each anomalous test image has a ground-truth folder with one 8-bit PNG per
// defect ("channel"): zero outside the defect and one positive value inside,
// the pixel_value of the defect's entry in defects_config.json, which also
// gives the defect's name and its sPRO saturation threshold.
//
// Open only lists folders and parses defects_config.json; image and mask
// files are decoded by LoadImage, Dataset.GroundTruth and Dataset.Verify,
// whose errors name the file and say how to fix it.
//
// # Ownership and threading
//
// A Dataset is immutable after Open and may be shared by goroutines. Loaded
// images and masks belong to the caller.
package loco
