// Package atomicfile writes files so that a reader, or a process killed mid-write, never sees a
// half-written one: the data goes to a temporary sibling, is synced, and is renamed into place.
// Temporary files are named ".<base>.tmp-*" and registered until they are renamed or removed, so a
// signal handler can delete the ones a cancelled run leaves (RemoveTemps).
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

var (
	mu      sync.Mutex
	temps   = map[string]struct{}{}
	stopped bool // RemoveTemps ran: the process is exiting, no new temporary files
)

// ErrStopped is returned by writes that start after RemoveTemps.
var ErrStopped = errors.New("atomicfile: the process is stopping (RemoveTemps ran); nothing more is written")

// Write writes path through a temporary file in the same folder: write fills it, then it is
// synced, made 0644 and renamed over path. On any error the temporary file is removed and path
// is untouched.
func Write(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The temporary file is created and registered under the lock, so RemoveTemps either sees
	// it or makes the write fail: a signal handler never misses one.
	mu.Lock()
	if stopped {
		mu.Unlock()
		return ErrStopped
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		mu.Unlock()
		return err
	}
	tmp := f.Name()
	temps[tmp] = struct{}{}
	mu.Unlock()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
		unregister(tmp)
	}()
	if err = write(f); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; outputs are ordinary data.
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w (is the disk full?)", path, err)
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Syncing the folder makes the rename durable; not every filesystem allows it, and the data
	// is already safe, so a failure here is not reported.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteFile is Write for data already in memory.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	})
}

// RemoveTemps deletes every temporary file a Write in progress has created: for a SIGINT/SIGTERM
// handler that is about to exit. Writes still running fail afterwards, and so does every later
// Write (ErrStopped).
func RemoveTemps() {
	mu.Lock()
	defer mu.Unlock()
	stopped = true
	for p := range temps {
		os.Remove(p)
		delete(temps, p)
	}
}

func unregister(p string) {
	mu.Lock()
	delete(temps, p)
	mu.Unlock()
}
