package main

import (
	"context"
	"fmt"
)

// pseudoLabeller makes the pseudo-labels of a category for csad train.
var pseudoLabeller = func(ctx context.Context, data, masks string, seed uint64) error {
	return fmt.Errorf("train: the classical pseudo-labeller is not in this build: give masks made elsewhere with -masks DIR and -stages segmentor,histogram")
}
