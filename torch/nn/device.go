package nn

import (
	"fmt"

	"github.com/csad-go/csad/torch"
)

// MoveTo moves every parameter and buffer of l to d in place (each handle then refers to the
// moved tensor), without recording history: parameters stay leaves and keep requires_grad.
func MoveTo(l Layer, d torch.Device) error {
	s := torch.NewNoGradScope()
	defer s.Close()
	for _, n := range StateDict(l) {
		t := n.Tensor
		if t.Device().Equal(d) {
			continue
		}
		moved := t.Share(s).ToDevice(d)
		if t.RequiresGrad() {
			moved = moved.SetRequiresGrad(true)
		}
		if err := moved.Err(); err != nil {
			return fmt.Errorf("nn: move %s to %s: %w", n.Name, d, err)
		}
		if err := t.ReplaceWith(moved); err != nil {
			return fmt.Errorf("nn: move %s to %s: %w", n.Name, d, err)
		}
	}
	return nil
}
