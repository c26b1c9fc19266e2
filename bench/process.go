package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Line is one stdout line of a process, with when it was read.
type Line struct {
	At   time.Time
	Text string
}

// Process is a system under test running as a child process. Its stdout
// is kept as timestamped lines (and copied to the log); stderr goes to
// the log only.
type Process struct {
	Name    string
	Started time.Time
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error

	mu      sync.Mutex
	lines   []Line
	changed chan struct{}
	last    ProcSample
}

// Start starts argv with its output appended to logPath.
func Start(name string, argv []string, dir, logPath string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	// Its own process group: a terminal's Ctrl-C reaches the bench only,
	// which stops its children in order. If the bench dies, they get
	// SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Close()
		return nil, err
	}
	p := &Process{Name: name, cmd: cmd, exited: make(chan struct{}), changed: make(chan struct{}, 1)}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	p.Started = time.Now()
	var readDone sync.WaitGroup
	readDone.Add(1)
	go func() {
		defer readDone.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := Line{At: time.Now(), Text: sc.Text()}
			fmt.Fprintln(log, l.Text)
			p.mu.Lock()
			p.lines = append(p.lines, l)
			p.mu.Unlock()
			select {
			case p.changed <- struct{}{}:
			default:
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.exited:
				return
			case <-t.C:
				p.sample()
			}
		}
	}()
	go func() {
		readDone.Wait()
		p.waitErr = cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *Process) sample() ProcSample {
	s, err := ReadProc(p.cmd.Process.Pid)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil && s.PeakRSS > 0 {
		p.last = s
	}
	return p.last
}

// Sample reads /proc now (or returns the last good sample once the
// process is gone).
func (p *Process) Sample() ProcSample { return p.sample() }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the exit error, once Exited is closed.
func (p *Process) Err() error { return p.waitErr }

// WaitLine waits for a stdout line starting with prefix, at or after
// index from of the lines, and returns it and its index.
func (p *Process) WaitLine(ctx context.Context, from int, prefix string) (Line, int, error) {
	exited := false
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if strings.HasPrefix(p.lines[i].Text, prefix) {
				l := p.lines[i]
				p.mu.Unlock()
				return l, i, nil
			}
		}
		p.mu.Unlock()
		if exited { // the last look, after every line was read
			return Line{}, 0, fmt.Errorf("bench: %s exited (%v) before printing %q", p.Name, p.waitErr, prefix)
		}
		select {
		case <-ctx.Done():
			return Line{}, 0, fmt.Errorf("bench: %s never printed %q: %w", p.Name, prefix, ctx.Err())
		case <-p.exited:
			exited = true
		case <-p.changed:
		}
	}
}

// Lines returns a copy of the stdout lines so far.
func (p *Process) Lines() []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Line(nil), p.lines...)
}

// Stop sends SIGTERM and waits up to grace for the exit, then SIGKILL.
func (p *Process) Stop(grace time.Duration) error {
	p.sample()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("bench: %s ignored SIGTERM for %v and was killed", p.Name, grace)
}

// Kill9 kills the process with SIGKILL and waits for it.
func (p *Process) Kill9() {
	p.sample()
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Group is the processes a run started, so that a run that ends early
// (interrupted, or failed) stops every one of them.
type Group struct {
	mu    sync.Mutex
	procs []*Process
}

// Start starts a process (see Start) in g.
func (g *Group) Start(name string, argv []string, dir, logPath string) (*Process, error) {
	p, err := Start(name, argv, dir, logPath)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// Forget the ones that are gone.
	live := g.procs[:0]
	for _, q := range g.procs {
		select {
		case <-q.exited:
		default:
			live = append(live, q)
		}
	}
	g.procs = append(live, p)
	return p, nil
}

// StopAll stops every process of g still running (see StopAll) and
// forgets them.
func (g *Group) StopAll(grace time.Duration) []string {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	return StopAll(grace, procs...)
}

// StopAll stops every one of procs still running, all at once: SIGTERM,
// then SIGKILL after grace. It returns the names of those it stopped.
func StopAll(grace time.Duration, procs ...*Process) []string {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped []string
	)
	for _, p := range procs {
		select {
		case <-p.exited:
			continue
		default:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Stop(grace)
			mu.Lock()
			stopped = append(stopped, p.Name)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return stopped
}
