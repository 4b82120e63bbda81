//go:build unix

package triton

import (
	"os"
	"syscall"
)

// lockModelDir takes an exclusive lock on modelDir's lock file, waiting for another Write to
// the same model to finish. The kernel drops the lock when its holder dies, killed or not, so
// whoever holds it knows that any temporary version folder it finds is a dead writer's.
func lockModelDir(modelDir string) (unlock func(), err error) {
	f, err := os.OpenFile(lockPath(modelDir), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}
