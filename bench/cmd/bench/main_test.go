package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/bench"
	"github.com/weirstream/weir/internal/kafkatest"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := findRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestHelpListsEveryOption: -h prints each flag with its environment
// variable and default, and starts nothing.
func TestHelpListsEveryOption(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, "/repo", &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{
		"-events int\t(env BENCH_EVENTS, default \"150000\")", "BENCH_CUSTOMERS", "BENCH_SEED", "BENCH_BAD_EVERY",
		"BENCH_PARTITIONS", "BENCH_PACED_SECONDS", "-phases string\t(env BENCH_PHASES, default \"throughput,recovery,paced,scaling\")",
		"BENCH_SKIP_KSTREAMS", "BENCH_OUT", "BENCH_DRAIN_TIMEOUT_SECONDS", "BENCH_KEEP", "BENCH_PROFILE",
		"BENCH_SCALE_WORKERS", "-brokers string\t(env KAFKA_BROKERS", "BENCH_KAFKA_SCRIPT",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestConfigFlagsOverEnvironment(t *testing.T) {
	env := map[string]string{"BENCH_EVENTS": "5000", "BENCH_SEED": "7", "BENCH_SKIP_KSTREAMS": "1", "KAFKA_BROKERS": "a:1,b:2", "BENCH_OUT": "/tmp/x"}
	c, err := parseConfig([]string{"-seed", "9", "-phases", "throughput,scaling"}, func(k string) string { return env[k] }, "/repo", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.events != 5000 || c.seed != 9 || !c.skipKS || len(c.brokers) != 2 || c.outDir != "/tmp/x" || c.customers != 1000 ||
		!c.phases["scaling"] || c.phases["paced"] || c.kafkaScript != "/repo/scripts/kafka.sh" || !c.profile || len(c.scale) != 3 {
		t.Fatalf("config %+v", c)
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"BENCH_EVENTS": "many"}, nil, `BENCH_EVENTS="many"`},
		{map[string]string{"BENCH_SKIP_KSTREAMS": "please"}, nil, "BENCH_SKIP_KSTREAMS"},
		{nil, []string{"-phases", "throughput,speed"}, `unknown phase "speed"`},
		{nil, []string{"-scale-workers", "1,0"}, "-scale-workers"},
		{nil, []string{"extra"}, "unexpected arguments"},
	} {
		_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, "/repo", &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want one containing %q", tc.env, tc.args, err, tc.want)
		}
	}
}

// TestInterruptStopsKafkaAndProcesses runs the bench with a stand-in
// for scripts/kafka.sh (its "broker" is a sleep process; the address it
// prints is the test cluster's), interrupts it as soon as it has started
// weir, and checks that weir and the broker are gone and the script was
// asked to stop.
func TestInterruptStopsKafkaAndProcesses(t *testing.T) {
	c := kafkatest.New(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "kafka.sh")
	err := os.WriteFile(script, []byte(`#!/bin/sh
case "$1" in
start) sleep 300 >/dev/null 2>&1 & echo $! > "`+dir+`/broker.pid"; echo `+strings.Join(c.Brokers, ",")+` ;;
stop) kill "$(cat "`+dir+`/broker.pid")" && echo stopped > "`+dir+`/stopped" ;;
esac
`), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"-events", "2000", "-partitions", "2", "-skip-kstreams", "-phases", "throughput",
		"-kafka-script", script, "-out", filepath.Join(dir, "out")}, func(string) string { return "" }, repoRoot(t), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.workBase = dir
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var started []*bench.Process
	cfg.onStart = func(p *bench.Process) {
		started = append(started, p)
		cancel() // the interrupt
	}
	code, err := run(ctx, cfg)
	if code == 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: code %d, %v; want non-zero and context.Canceled", code, err)
	}
	if len(started) == 0 {
		t.Fatal("the run started no process before the interrupt")
	}
	for _, p := range started {
		select {
		case <-p.Exited():
		default:
			t.Errorf("%s (pid %d) still running after the run returned", p.Name, p.Pid())
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stopped")); err != nil || strings.TrimSpace(string(b)) != "stopped" {
		t.Fatalf("the Kafka script was not asked to stop: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "broker.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The stand-in broker is the script's orphan: wait for it to be gone
	// (or a zombie, if nothing reaps orphans here).
	alive := func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		i := bytes.LastIndexByte(b, ')')
		return i < 0 || !bytes.HasPrefix(b[i+1:], []byte(" Z"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive() {
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in broker (pid %d) still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGitSHAInWorktree: a worktree's .git file leads to its HEAD and the
// common dir's refs.
func TestGitSHAInWorktree(t *testing.T) {
	dir := t.TempDir()
	common := filepath.Join(dir, "main.git")
	wt := filepath.Join(common, "worktrees", "b")
	root := filepath.Join(dir, "wt")
	for _, d := range []string{filepath.Join(common, "refs", "heads"), wt, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(root, ".git"):                 "gitdir: " + wt + "\n",
		filepath.Join(wt, "HEAD"):                   "ref: refs/heads/b\n",
		filepath.Join(wt, "commondir"):              "../..\n",
		filepath.Join(common, "refs", "heads", "b"): "0123456789abcdef0123456789abcdef01234567\n",
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := gitSHA(root); got != "0123456789ab" {
		t.Fatalf("gitSHA = %q, want 0123456789ab", got)
	}
}
