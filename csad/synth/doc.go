// Package synth generates synthetic data sets in the MVTec LOCO AD layout
// (see package loco), so that training, scoring and evaluation can be built
// and tested without the real data set.
//
// Each category is a scene of parts with a rule that every normal image
// obeys: "tray" (counting and arrangement: one pushpin per compartment),
// "box" (composition and proportion: two oranges and a nectarine beside
// granola with 20–40 % almonds) and "connectors" (pairing: equal pin counts,
// cable colour set by the pin count, same pin on both sides). Logical
// anomalies break the rule with intact parts; structural anomalies (scratch,
// hole, contamination, broken_part) damage one part of a scene that obeys the
// rule. Normal images vary in position, rotation, lighting, colour, blur and
// noise. Every image comes with its Scene, the rule-level description that
// the tests check with Scene.Violations.
//
// Shapes are rasterised from signed distance functions with analytic
// anti-aliasing; ground-truth masks are the same shapes thresholded at the
// pixel centre, written as one 8-bit PNG per defect with the defect's
// pixel_value from defects_config.json.
//
// # Determinism
//
// Each image has its own PCG generator (math/rand/v2) seeded with the user
// seed and a hash of category, split, kind and index; nothing uses global
// random state. The same seed, size and counts therefore give byte-identical
// files regardless of Options.Workers or of which other images are drawn.
// Floating-point results, and so the bytes, may differ across CPU
// architectures where the compiler fuses multiply-adds.
//
// # Ownership and threading
//
// Generate and Render may run concurrently; returned images and masks belong
// to the caller.
package synth
