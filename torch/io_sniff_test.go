package torch_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
)

// A safetensors file is recognised by its content whatever its header length: the length's low
// byte is 0x80 (a pickle opcode) in one file out of 256, which once sent such files to the pickle
// reader.
func TestSafetensorsSniffEveryHeaderLength(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := torch.FromSlice(s, []float32{1, 2})
	dir := t.TempDir()
	for pad := range 256 {
		p := filepath.Join(dir, "m.csad")
		meta := map[string]string{"k": strings.Repeat("x", pad)}
		require.NoError(t, torch.SaveTensorsMeta(p, []torch.Named{{Name: "x", Tensor: x}}, meta))
		ts, got, err := torch.LoadTensorsMeta(s, p)
		require.NoError(t, err, "padding %d", pad)
		require.Len(t, ts, 1)
		require.Equal(t, meta["k"], got["k"])
	}
}
