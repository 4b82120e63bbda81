package metrics_test

import (
	"fmt"

	"github.com/csad-go/csad/csad/metrics"
)

func ExampleAUROCSplit() {
	good := []float64{0.1, 0.4, 0.35, 0.8}
	anomalous := []float64{0.9, 0.4, 0.7}
	auc, err := metrics.AUROCSplit(good, anomalous)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.4f\n", auc)
	// Output: 0.7917
}

func ExampleAUsPRO() {
	// A 4×4 image whose 2×2 defect is scored 1 and the rest 0.
	mask := make([]bool, 16)
	score := make([]float32, 16)
	for _, i := range []int{5, 6, 9, 10} {
		mask[i], score[i] = true, 1
	}
	im := metrics.Image{Width: 4, Height: 4, Map: score, Channels: []metrics.Channel{
		{Mask: mask, Name: "dent", SaturationThreshold: 1.0, RelativeSaturation: true},
	}}
	aus, err := metrics.AUsPRO([]metrics.Image{im}, []float64{0.05, 1.0})
	if err != nil {
		panic(err)
	}
	fmt.Println(aus)
	// Output: [1 1]
}
