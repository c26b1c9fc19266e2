package processor

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/topology"
)

// eachTask runs every task exactly once, on up to n goroutines at once
// (the n calls below only return once all n are running together), and
// returns errors in task order.
func TestEachTaskRunsTasksInParallelOnce(t *testing.T) {
	const n = 4
	tasks := make([]*task, 10)
	for i := range tasks {
		tasks[i] = &task{id: topology.TaskID{Partition: int32(i)}}
	}
	var (
		mu      sync.Mutex
		running int
		most    int
		calls   = map[int32]int{}
		arrived = make(chan struct{})
		once    sync.Once
	)
	errs := eachTask(n, tasks, func(i int, tk *task) error {
		if tasks[i] != tk {
			t.Errorf("index %d given task %v", i, tk.id)
		}
		mu.Lock()
		running++
		most = max(most, running)
		calls[tk.id.Partition]++
		if running == n {
			once.Do(func() { close(arrived) })
		}
		mu.Unlock()
		select { // the first n wait for each other: proof they overlap
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Error("fewer than n tasks ran at once")
		}
		mu.Lock()
		running--
		mu.Unlock()
		if tk.id.Partition%3 == 1 {
			return fmt.Errorf("task %d", tk.id.Partition)
		}
		return nil
	})
	if most > n {
		t.Fatalf("%d tasks ran at once, more than %d", most, n)
	}
	for i := range tasks {
		if calls[int32(i)] != 1 {
			t.Fatalf("task %d run %d times", i, calls[int32(i)])
		}
		want := i%3 == 1
		if (errs[i] != nil) != want || want && errs[i].Error() != fmt.Sprintf("task %d", i) {
			t.Fatalf("error %d: %v", i, errs[i])
		}
	}
}

// A round stops the worker on the first error that is not an
// interruption, whatever came before it; otherwise the first interruption.
func TestFirstErrPrefersFatal(t *testing.T) {
	intr := fmt.Errorf("x: %w", topology.ErrInterrupted)
	fatal := errors.New("fatal")
	if got := firstErr([]error{nil, intr, fatal}); got != fatal {
		t.Fatalf("got %v", got)
	}
	if got := firstErr([]error{nil, intr, nil}); got != intr {
		t.Fatalf("got %v", got)
	}
	if got := firstErr([]error{nil, nil}); got != nil {
		t.Fatalf("got %v", got)
	}
}
