package cluster_test

import (
	"fmt"

	"github.com/csad-go/csad/csad/cluster"
)

func ExampleMeanShift() {
	x := [][]float64{{0, 0}, {0.2, 0}, {0, 0.2}, {5, 5}, {5.2, 5}}
	labels, centers, err := cluster.MeanShift(x, cluster.MeanShiftOptions{Bandwidth: 1, ClusterAll: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(labels)
	fmt.Printf("%.3f\n", centers)
	// Output:
	// [0 0 0 1 1]
	// [[0.067 0.067] [5.100 5.000]]
}

func ExampleHDBSCAN() {
	// Two groups of five and one far outlier.
	x := [][]float64{
		{0, 0}, {0.1, 0}, {0, 0.1}, {0.1, 0.1}, {0.05, 0.05},
		{4, 4}, {4.1, 4}, {4, 4.1}, {4.1, 4.1}, {4.05, 4.05},
		{20, -20},
	}
	labels, err := cluster.HDBSCAN(x, cluster.HDBSCANOptions{MinClusterSize: 3})
	if err != nil {
		panic(err)
	}
	fmt.Println(labels)
	// Output: [0 0 0 0 0 1 1 1 1 1 -1]
}

func ExampleTrimmedStats() {
	val := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	mean, std, err := cluster.TrimmedStats(val) // keeps 3..8, strictly inside q20=2.8, q80=8.2
	if err != nil {
		panic(err)
	}
	fmt.Printf("mean %.4f std %.4f\n", mean, std)
	// Output: mean 5.5000 std 1.7078
}
