//go:build !unix

package triton

// lockModelDir does not lock where flock is missing: concurrent Writes to one model are then
// the caller's to avoid, and a killed writer's temporary folder stays until removed by hand.
func lockModelDir(string) (func(), error) { return nil, nil }
