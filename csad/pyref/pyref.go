// Package pyref holds the plain-PyTorch reference of the CSAD unified model, csad_ref.py: the
// golden generators in testdata/ import it (through the testdata/csad_ref.py shim) and
// 'csad bench' writes the embedded copy next to its Python benchmark script.
package pyref

import _ "embed"

// Source is csad_ref.py: the CSAD(cfg) module with the official state-dict names and the
// PAPER_CONFIG / SMALL_CONFIG dicts (the JSON form of csad.Config).
//
//go:embed csad_ref.py
var Source []byte

// FileName is the module's file name; write Source under it to `import csad_ref`.
const FileName = "csad_ref.py"
