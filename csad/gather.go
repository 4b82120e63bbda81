package csad

import (
	"context"
	"image"
)

// gatherInput is one single-image call's image, preprocessed (3×S×S) and as given.
type gatherInput struct {
	input []float32
	img   image.Image
}

// gatherOutput is one image's share of a gathered pass.
type gatherOutput struct {
	result   *Result
	imageErr error // this image's result is unusable (ErrNonFinite)
}

// scoreGathered scores one preprocessed image in a pass of its own or shared with the other
// single images that wait at the same time (internal/gather: oldest first, up to GatherBatch a
// pass, every slot used as soon as it frees).
func (m *Model) scoreGathered(ctx context.Context, input []float32, img image.Image) (gatherOutput, error) {
	return m.gather.Do(ctx, m.slots, m.opts.GatherBatch, gatherInput{input: input, img: img}, m.runGathered)
}

// runGathered runs one pass of the inputs' images; the caller holds a slot.
func (m *Model) runGathered(ins []gatherInput) ([]gatherOutput, error) {
	buf := make([]float32, 0, len(ins)*len(ins[0].input))
	imgs := make([]image.Image, len(ins))
	for i, in := range ins {
		buf = append(buf, in.input...)
		imgs[i] = in.img
	}
	rs, errs, err := m.forward(buf, imgs)
	if err != nil {
		return nil, err
	}
	outs := make([]gatherOutput, len(ins))
	for i := range outs {
		outs[i] = gatherOutput{result: rs[i], imageErr: errs[i]}
	}
	return outs, nil
}
