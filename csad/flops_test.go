package csad_test

import (
	"fmt"
	"testing"

	"github.com/csad-go/csad/csad"
)

// TestFLOPsSmall checks FLOPs against a count by hand for SmallConfig(5) (stem 8, blocks 1,2,1,
// mid 4,8,16, out 16,32,64, teacher 16, student 8/16, autoencoder 4/8, segmentor 4/8/5).
// Multiply–accumulates of a conv = out_h·out_w·cout·cin·kh·kw:
//
//	encoder      stem 128²·8·3·49 = 19,267,584
//	             layer1.0 (64², 8→4→16, downsample)  131,072 + 589,824 + 262,144 + 524,288 = 1,507,328
//	             layer2.0 (64²→32², 16→8→32, ds)      524,288 + 589,824 + 262,144 + 524,288 = 1,900,544
//	             layer2.1 (32², 32→8→32)              262,144 + 589,824 + 262,144           = 1,114,112
//	             layer3.0 (32²→16², 32→16→64, ds)     524,288 + 589,824 + 262,144 + 524,288 = 1,900,544
//	             total 25,690,112
//	teacher      64²·16·96 = 6,291,456
//	student      conv1 259²·8·3·16 = 25,759,104; conv2 133²·16·8·16 = 36,227,072;
//	             conv3 67²·16·16 = 1,149,184; conv4 67²·16·16·9 = 10,342,656;
//	             conv5 64²·16·16·16 = 16,777,216; conv_st + conv_ae 2·64²·16·16 = 2,097,152
//	             total 92,352,384
//	autoencoder  enconv1..6 at 128,64,32,16,8,1: 3,145,728 + 1,048,576 + 524,288 + 262,144 +
//	             65,536 + 4,096 = 5,050,368; deconv1..6 at 4,9,16,33,64,128:
//	             (16+81+256+1089+4096+16384)·8·8·16 = 22,448,128; deconv7 64²·8·8·9 = 2,359,296;
//	             deconv8 64²·16·8·9 = 4,718,592; total 34,576,384
//	segmentor    reduce 64²·4·16 = 262,144; c0 16²·8·64 = 131,072; c1..c3 3·16²·8·64·9 =
//	             3,538,944; imagepool 1·8·64 = 512; fc1 16²·8·40 = 81,920;
//	             fc2.conv1 64²·8·12·9 = 3,538,944; fc2.conv2 64²·8·8·9 = 2,359,296;
//	             fc2.conv3 64²·5·8 = 163,840; total 10,076,672
//
// Sum 168,987,008 MACs = 337,974,016 FLOPs, the figure PyTorch forward hooks on every nn.Conv2d
// of csad_ref.CSAD(small_config(5)) give (as 'csad bench' cross-checks). The paper size, counted
// the same way by the hooks on csad_ref.CSAD(paper_config(5)), is 188,964,364,288.
func TestFLOPsSmall(t *testing.T) {
	got := csad.FLOPsByPart(csad.SmallConfig(5))
	want := csad.ConvMACs{Encoder: 25690112, Teacher: 6291456, Student: 92352384, AutoEncoder: 34576384, Segmentor: 10076672}
	if got != want {
		t.Errorf("small MACs by part %+v, want %+v", got, want)
	}
	if f := csad.FLOPs(csad.SmallConfig(5)); f != 337974016 {
		t.Errorf("small FLOPs %d, want 337974016", f)
	}
	paper := csad.FLOPsByPart(csad.PaperConfig(5))
	wantPaper := csad.ConvMACs{Encoder: 11998855168, Teacher: 3221225472, Student: 69015810048,
		AutoEncoder: 2942697472, Segmentor: 7303593984}
	if paper != wantPaper {
		t.Errorf("paper MACs by part %+v, want %+v (PyTorch hooks)", paper, wantPaper)
	}
	if f := csad.FLOPs(csad.PaperConfig(5)); f != 188964364288 {
		t.Errorf("paper FLOPs %d, want 188964364288", f)
	}
	// More classes only widen the segmentor's last 1×1 conv: 64²·256 MACs per class.
	if d := csad.FLOPs(csad.PaperConfig(6)) - csad.FLOPs(csad.PaperConfig(5)); d != 2*64*64*256 {
		t.Errorf("one more class adds %d FLOPs, want %d", d, 2*64*64*256)
	}
}

func ExampleFLOPs() {
	f := csad.FLOPs(csad.PaperConfig(5))
	fmt.Printf("%.1f GFLOP per 256×256 image\n", float64(f)/1e9)
	// Output: 189.0 GFLOP per 256×256 image
}
