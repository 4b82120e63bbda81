package torchtest

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CaseInts parses the n comma-separated whole numbers of a benchmark case that a parent
// process hands its child in an environment variable.
func CaseInts(spec string, n int) ([]int, error) {
	f := strings.Split(spec, ",")
	if len(f) != n {
		return nil, fmt.Errorf("torchtest: case %q has %d fields, want %d", spec, len(f), n)
	}
	v := make([]int, n)
	for i, s := range f {
		var err error
		if v[i], err = strconv.Atoi(s); err != nil {
			return nil, fmt.Errorf("torchtest: case %q: %w", spec, err)
		}
	}
	return v, nil
}

// RunCallers runs callers goroutines at once, each making calls calls of call(caller), and
// returns the calls completed per second over the whole run; the first failing call of a caller
// stops that caller, and the error of the lowest-numbered failing caller is returned.
func RunCallers(callers, calls int, call func(caller int) error) (perSecond float64, err error) {
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range callers {
		wg.Go(func() {
			for range calls {
				if err := call(c); err != nil {
					errs[c] = err
					return
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	for c, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("caller %d: %w", c, err)
		}
	}
	return float64(callers*calls) / secs, nil
}
