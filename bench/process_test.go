package bench

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGroupStopAll: StopAll stops every process still running, kills
// one that ignores SIGTERM after the grace time, and leaves alone those
// already gone.
func TestGroupStopAll(t *testing.T) {
	var g Group
	dir := t.TempDir()
	start := func(name string, argv ...string) *Process {
		p, err := g.Start(name, argv, dir, filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	done := start("done", "true")
	<-done.Exited()
	polite := start("polite", "sleep", "60")
	stubborn := start("stubborn", "sh", "-c", `trap "" TERM; echo ready; exec sleep 60`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The trap is set once it says so (exec keeps the ignored signal).
	if _, _, err := stubborn.WaitLine(ctx, 0, "ready"); err != nil {
		t.Fatal(err)
	}
	stopped := g.StopAll(200 * time.Millisecond)
	slices.Sort(stopped)
	if !slices.Equal(stopped, []string{"polite", "stubborn"}) {
		t.Fatalf("StopAll stopped %v, want polite and stubborn", stopped)
	}
	for _, p := range []*Process{polite, stubborn} {
		select {
		case <-p.Exited():
		default:
			t.Fatalf("%s still running after StopAll", p.Name)
		}
		// Reaped: the pid is gone.
		if err := syscall.Kill(p.Pid(), 0); err != syscall.ESRCH {
			t.Errorf("%s (pid %d) still exists: kill 0 = %v", p.Name, p.Pid(), err)
		}
	}
	if ws, ok := stubborn.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("stubborn ended with %v, want SIGKILL after the grace time", stubborn.Err())
	}
	if ws, ok := polite.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGTERM {
		t.Errorf("polite ended with %v, want SIGTERM", polite.Err())
	}
	if again := g.StopAll(time.Second); len(again) != 0 {
		t.Errorf("a second StopAll stopped %v, want nothing", again)
	}
}

// TestWaitLineAfterExit: a line printed right before the exit is found,
// also when asked after the exit; one never printed is an error naming
// the exit, not a wait until the deadline.
func TestWaitLineAfterExit(t *testing.T) {
	dir := t.TempDir()
	p, err := Start("short", []string{"sh", "-c", "echo one; echo two"}, dir, filepath.Join(dir, "short.log"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	<-p.Exited()
	if l, i, err := p.WaitLine(ctx, 0, "two"); err != nil || l.Text != "two" || i != 1 {
		t.Fatalf("WaitLine(two) after exit = %q, %d, %v; want \"two\", 1", l.Text, i, err)
	}
	if _, _, err := p.WaitLine(ctx, 2, "one"); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitLine(one) from index 2 = %v, want an error saying it exited", err)
	}
	if ctx.Err() != nil {
		t.Fatal("WaitLine waited for the deadline")
	}
}
