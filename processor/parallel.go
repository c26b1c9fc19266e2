package processor

import (
	"sync"
	"sync/atomic"
)

// eachTask calls fn for every task (and its index) on at most n
// goroutines and returns fn's errors in the order of tasks. Each task goes to exactly one
// goroutine, so a task core is never touched by two at once.
func eachTask(n int, tasks []*task, fn func(i int, t *task) error) []error {
	errs := make([]error, len(tasks))
	n = min(n, len(tasks))
	if n <= 1 {
		for i, t := range tasks {
			errs[i] = fn(i, t)
		}
		return errs
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tasks) {
					return
				}
				errs[i] = fn(i, tasks[i])
			}
		}()
	}
	wg.Wait()
	return errs
}

// firstErr picks the error a round of tasks ends with: the first that
// stops the worker, else the first interruption (which rewinds every
// task), in task order so that the outcome does not depend on timing.
func firstErr(errs []error) error {
	var interrupted error
	for _, err := range errs {
		switch {
		case err == nil:
		case !interruptedErr(err):
			return err
		case interrupted == nil:
			interrupted = err
		}
	}
	return interrupted
}
