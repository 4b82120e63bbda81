package csad_test

import (
	"testing"

	"github.com/csad-go/csad/torch/torchtest"
)

func TestMain(m *testing.M) { torchtest.Main(m) }
