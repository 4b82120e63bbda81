package optim

// StepLR is torch.optim.lr_scheduler.StepLR: every StepSize calls of Step the learning rate is
// multiplied by Gamma. It multiplies the current rate (PyTorch's chainable form) rather than
// recomputing base·γ^k, so the float64 values match Python's exactly.
type StepLR struct {
	opt       Optimizer
	StepSize  int
	Gamma     float64
	LastEpoch int
}

// NewStepLR attaches a scheduler to opt (at epoch 0, as constructing one in PyTorch does).
func NewStepLR(opt Optimizer, stepSize int, gamma float64) *StepLR {
	return &StepLR{opt: opt, StepSize: stepSize, Gamma: gamma}
}

// Step advances one epoch and updates the optimizer's learning rate.
func (s *StepLR) Step() {
	s.LastEpoch++
	if s.StepSize > 0 && s.LastEpoch%s.StepSize == 0 {
		s.opt.SetLR(s.opt.LR() * s.Gamma)
	}
}

// LR is the optimizer's current learning rate (get_last_lr()[0]).
func (s *StepLR) LR() float64 { return s.opt.LR() }
