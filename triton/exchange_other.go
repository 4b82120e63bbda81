//go:build !linux

package triton

// exchange is Linux's renameat2 RENAME_EXCHANGE; elsewhere the caller uses two renames.
func exchange(a, b string) (bool, error) { return false, nil }
