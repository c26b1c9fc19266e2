package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/kafkatest"
)

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
		"BENCH_SCALE_WORKERS", "BENCH_ONE_PARTITION_EVENTS", "BENCH_WORK_DIR", "-brokers string\t(env KAFKA_BROKERS", "BENCH_KAFKA_SCRIPT",
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
		!c.phases["scaling"] || c.phases["paced"] || c.kafkaScript != "/repo/scripts/kafka.sh" || !c.profile || len(c.scale) != 3 || c.onePartition != 5000 {
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

// TestMain runs the bench's main instead of the tests when asked to: the
// interrupt test runs it as a process of its own.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("BENCH_TEST_MAIN_ARGS"); ok {
		os.Args = append([]string{"bench"}, strings.Fields(args)...)
		main()
		return
	}
	os.Exit(m.Run())
}

var startedRE = regexp.MustCompile(`weir: started \(pid (\d+)\)`)

// TestInterruptStopsKafkaAndProcesses runs the bench as a process with a
// stand-in for scripts/kafka.sh (its "broker" is a sleep process; the
// address it prints is the test cluster's), sends it SIGTERM as soon as
// it says it started weir, and checks that weir and the broker are gone
// and the script was asked to stop.
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAFKA_BROKERS=") && !strings.HasPrefix(kv, "BENCH_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "BENCH_TEST_MAIN_ARGS=-events 2000 -partitions 2 -skip-kstreams -phases throughput -kafka-script "+script+
		" -out "+filepath.Join(dir, "out")+" -work-dir "+filepath.Join(dir, "work"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	weirPid := 0
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if m := startedRE.FindStringSubmatch(sc.Text()); m != nil && weirPid == 0 {
			weirPid, _ = strconv.Atoi(m[1])
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if weirPid == 0 {
		t.Fatalf("the bench never started weir (%v):\n%s", err, out.String())
	}
	if err == nil || !strings.Contains(out.String(), "interrupted: stopping") {
		t.Fatalf("interrupted bench: exit %v; want a failure after saying it was interrupted:\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "latest.md")); err == nil {
		t.Error("the interrupted run wrote latest.md")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stopped")); err != nil || strings.TrimSpace(string(b)) != "stopped" {
		t.Fatalf("the Kafka script was not asked to stop (%v):\n%s", err, out.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "broker.pid"))
	if err != nil {
		t.Fatal(err)
	}
	brokerPid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// Both were children of children: wait for them to be gone (or
	// zombies, if nothing reaps orphans here).
	for name, pid := range map[string]int{"weir": weirPid, "the stand-in broker": brokerPid} {
		deadline := time.Now().Add(10 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("%s (pid %d) still runs after the bench exited:\n%s", name, pid, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// alive tells whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || !bytes.HasPrefix(b[i+1:], []byte(" Z"))
}

// TestGitSHAInWorktree: in a linked worktree (whose .git is a file)
// gitSHA names the worktree's HEAD, not the main checkout's; outside a
// repository it says nogit.
func TestGitSHAInWorktree(t *testing.T) {
	dir := t.TempDir()
	main, wt := filepath.Join(dir, "main"), filepath.Join(dir, "wt")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", main)
	git("-C", main, "commit", "-q", "--allow-empty", "-m", "one")
	git("-C", main, "worktree", "add", "-q", "-b", "b", wt)
	git("-C", wt, "commit", "-q", "--allow-empty", "-m", "two")
	want := git("-C", wt, "rev-parse", "HEAD")[:12]
	if got := gitSHA(wt); got != want {
		t.Fatalf("gitSHA(worktree) = %q, want %q (main is at %s)", got, want, git("-C", main, "rev-parse", "HEAD")[:12])
	}
	if got := gitSHA(t.TempDir()); got != "nogit" {
		t.Fatalf("gitSHA outside a repository = %q, want nogit", got)
	}
}

// TestKafkaIsTheBenchsOwn: the script starts and stops the bench's
// cluster in the run's own directory, whatever WEIR_KAFKA_RUN says. The
// failed start of a run used to be followed by a stop in the shared
// default directory, which stops a cluster someone else started there.
func TestKafkaIsTheBenchsOwn(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("WEIR_KAFKA_RUN", filepath.Join(dir, "shared"))
	script := filepath.Join(dir, "kafka.sh")
	calls := filepath.Join(dir, "calls")
	err := os.WriteFile(script, []byte(`#!/bin/sh
echo "$1 $WEIR_KAFKA_RUN" >>"`+calls+`"
case "$1" in
start) exit 1 ;;
esac
`), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(dir, "run", "kafka")
	if _, _, err := startKafka(context.Background(), dir, script, own); err == nil {
		t.Fatal("startKafka succeeded with a failing script")
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "start "+own+"\nstop "+own+"\n"; got != want {
		t.Fatalf("script calls:\n%s\nwant:\n%s", got, want)
	}
}

// TestCleanUpKeepsKafka: the run's clean-up, which runs before Kafka is
// stopped, leaves the Kafka run directory (its state says what to stop)
// and the logs, and removes the rest.
func TestCleanUpKeepsKafka(t *testing.T) {
	work := t.TempDir()
	for name, text := range map[string]string{
		filepath.Join(kafkaDir, "cluster.env"): "N=1\n",
		filepath.Join("app-state", "x"):        "",
		"weir.log":                             "",
		"weir":                                 "",
	} {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	(&harness{work: work}).cleanUp("bench-x")
	for name, want := range map[string]bool{filepath.Join(kafkaDir, "cluster.env"): true, "weir.log": true, "app-state": false, "weir": false} {
		_, err := os.Stat(filepath.Join(work, name))
		if got := err == nil; got != want {
			t.Errorf("%s kept: %v, want %v", name, got, want)
		}
	}
}
