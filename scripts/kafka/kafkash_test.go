// Package kafka holds the tests of scripts/kafka.sh. They run the script
// with JAVA_HOME pointing at a stub whose "java" starts an in-process
// kfake broker instead of a JVM, so they need neither Java nor the broker
// jars and take seconds.
package kafka_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestMain doubles as the fake broker: the stub java execs this test
// binary with -fake-broker PROPERTIES.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-fake-broker" {
		if err := fakeBroker(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "fake broker:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

var plaintextPort = regexp.MustCompile(`(?m)^listeners=.*PLAINTEXT://127\.0\.0\.1:(\d+)`)

// fakeBroker serves Kafka on the node's PLAINTEXT port until SIGTERM.
func fakeBroker(props string) error {
	b, err := os.ReadFile(props)
	if err != nil {
		return err
	}
	m := plaintextPort.FindSubmatch(b)
	if m == nil {
		return fmt.Errorf("no PLAINTEXT listener in %s", props)
	}
	port, _ := strconv.Atoi(string(m[1]))
	c, err := kfake.NewCluster(kfake.Ports(port))
	if err != nil {
		return err
	}
	defer c.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return nil
}

// stubJava answers -version, formats nothing, and starts a node as the
// fake broker: first, for STUB_DELAY seconds, under a command line that
// does not name the node (as the forked shell before exec, or a launcher
// script, looks), or exits with STUB_EXIT.
const stubJava = `#!/usr/bin/env bash
case " $* " in
*" -version "*) echo 'openjdk version "17.0.99" 2026-01-01' >&2; exit 0 ;;
*" kafka.tools.StorageTool "*)
	# As kafka-storage's parser: "-t" must be followed by a value that is
	# not an option.
	while (($#)) && [[ "$1" != -t ]]; do shift; done
	if [[ $# -lt 2 || -z "$2" || "$2" == -* ]]; then
		echo "kafka-storage: error: argument --cluster-id/-t: expected one argument" >&2
		exit 1
	fi
	exit 0
	;;
*" kafka.Kafka "*)
	if [[ -n "${STUB_EXIT:-}" ]]; then
		echo "stub: failing on purpose" >&2
		exit "$STUB_EXIT"
	fi
	exec env STUB_PROPS="${@: -1}" bash -c 'sleep "${STUB_DELAY:-0}"; exec "$FAKE_BROKER" -fake-broker "$STUB_PROPS"'
	;;
esac
echo "stub java: unexpected arguments: $*" >&2
exit 2
`

// stubPython stands in for python3: a call that makes a cluster id
// prints the next of STUB_UUIDS (split on spaces; "" once they run out);
// every other call goes to the real python3.
const stubPython = `#!/usr/bin/env bash
case "$*" in
*uuid4*)
	read -r -a ids <<<"$STUB_UUIDS"
	n=$(cat "$STUB_UUID_COUNT" 2>/dev/null || echo 0)
	echo $((n + 1)) >"$STUB_UUID_COUNT"
	echo "${ids[n]:-}"
	exit 0
	;;
esac
exec "$REAL_PYTHON" "$@"
`

// withClusterIDs makes kafka.sh's python3 hand out ids as its cluster ids.
func withClusterIDs(t *testing.T, ids ...string) []string {
	t.Helper()
	real, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte(stubPython), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{
		"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"REAL_PYTHON=" + real,
		"STUB_UUIDS=" + strings.Join(ids, " "),
		"STUB_UUID_COUNT=" + filepath.Join(dir, "count"),
	}
}

type script struct {
	t   *testing.T
	env []string
	run string
}

func newScript(t *testing.T, extraEnv ...string) *script {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "jdk", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jdk", "bin", "java"), []byte(stubJava), 0o755); err != nil {
		t.Fatal(err)
	}
	libs := filepath.Join(dir, "cache", "stub", "libs")
	if err := os.MkdirAll(libs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(libs, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := &script{t: t, run: filepath.Join(dir, "run")}
	s.env = append(os.Environ(),
		"JAVA_HOME="+filepath.Join(dir, "jdk"),
		"WEIR_KAFKA_CACHE="+filepath.Join(dir, "cache"),
		"WEIR_KAFKA_VERSION=stub",
		"WEIR_KAFKA_RUN="+s.run,
		"WEIR_KAFKA_TIMEOUT=30",
		"FAKE_BROKER="+self,
	)
	s.env = append(s.env, extraEnv...)
	t.Cleanup(func() { s.do("stop") })
	return s
}

// do runs kafka.sh with args and returns stdout, stderr and the exit code.
func (s *script) do(args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command("../kafka.sh", args...)
	cmd.Env = s.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		s.t.Fatalf("kafka.sh %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

var bootstrapLine = regexp.MustCompile(`^127\.0\.0\.1:\d+$`)

// TestSlowStartIsNotDeath: a node whose process is not yet the JVM for
// a while must be waited for, on start and on restart. The old check
// looked at the command line at once and said "node 1 exited during
// startup" while the node came up seconds later.
func TestSlowStartIsNotDeath(t *testing.T) {
	s := newScript(t, "STUB_DELAY=2")
	out, errOut, code := s.do("start")
	if code != 0 {
		t.Fatalf("start: exit %d\n%s", code, errOut)
	}
	if b := lastLine(out); !bootstrapLine.MatchString(b) {
		t.Fatalf("start: last line %q is not the bootstrap address\n%s", b, out)
	}
	if _, errOut, code := s.do("status"); code != 0 {
		t.Fatalf("status after start: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := s.do("kill", "1"); code != 0 {
		t.Fatalf("kill 1: exit %d\n%s", code, errOut)
	}
	began := time.Now()
	if _, errOut, code := s.do("restart", "1"); code != 0 {
		t.Fatalf("restart 1: exit %d\n%s", code, errOut)
	}
	if took := time.Since(began); took < 2*time.Second {
		t.Fatalf("restart returned after %v, before the node could be up (2 s delay)", took)
	}
	if _, errOut, code := s.do("status"); code != 0 {
		t.Fatalf("status after restart: exit %d\n%s", code, errOut)
	}
}

// TestExitDuringStartupReported: a node that really exits is reported
// at once, with its exit code and the tail of its log.
func TestExitDuringStartupReported(t *testing.T) {
	s := newScript(t, "STUB_EXIT=3")
	began := time.Now()
	_, errOut, code := s.do("start")
	if code == 0 {
		t.Fatal("start succeeded with a node that exits")
	}
	for _, want := range []string{"node 1", "exited with code 3", "stub: failing on purpose"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("start's error output does not say %q:\n%s", want, errOut)
		}
	}
	if took := time.Since(began); took > 20*time.Second {
		t.Errorf("start took %v to notice the exit", took)
	}
	if _, _, code := s.do("status"); code != 1 {
		t.Errorf("status after a failed start: exit %d, want 1 (not running)", code)
	}
}

// TestConcurrentStartsDoNotCollide: two starts on one run directory at
// once: one starts the cluster, the other waits for it and then refuses
// ("already running"); the cluster is whole afterwards.
func TestConcurrentStartsDoNotCollide(t *testing.T) {
	s := newScript(t, "STUB_DELAY=1")
	type result struct {
		out, err string
		code     int
	}
	var wg sync.WaitGroup
	res := make([]result, 2)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, e, c := s.do("start")
			res[i] = result{o, e, c}
		}()
	}
	wg.Wait()
	ok := 0
	for i, r := range res {
		switch {
		case r.code == 0 && bootstrapLine.MatchString(lastLine(r.out)):
			ok++
		case r.code != 0 && strings.Contains(r.err, "already running"):
		default:
			t.Errorf("start %d: exit %d, neither started nor refused:\n%s%s", i, r.code, r.out, r.err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 2 concurrent starts started a cluster, want 1:\n%+v", ok, res)
	}
	out, errOut, code := s.do("status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
}

// TestClusterIDNotAnOption: a random id that starts with "-" (one in 64)
// was passed as "-t -xyz..." and kafka-storage failed with "--cluster-id/-t:
// expected one argument". Such an id is now drawn again.
func TestClusterIDNotAnOption(t *testing.T) {
	const good = "Bq3_x-9ZzAAAAAAAAAAAAA"
	s := newScript(t, withClusterIDs(t, "-q3_x-9ZzAAAAAAAAAAAAA", good)...)
	out, errOut, code := s.do("start")
	if code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	env, err := os.ReadFile(filepath.Join(s.run, "cluster.env"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "CLUSTER_ID="+good+"\n") {
		t.Fatalf("cluster.env does not hold CLUSTER_ID=%s:\n%s", good, env)
	}
}

// TestNoClusterIDFailsClearly: when no valid id can be made, start says
// so and formats nothing (it used to format with an empty id).
func TestNoClusterIDFailsClearly(t *testing.T) {
	s := newScript(t, withClusterIDs(t)...)
	out, errOut, code := s.do("start")
	if code == 0 {
		t.Fatalf("start succeeded without a cluster id:\n%s%s", out, errOut)
	}
	if !strings.Contains(errOut, "could not make a cluster id") {
		t.Errorf("start's error does not say it could not make a cluster id:\n%s", errOut)
	}
	if strings.Contains(errOut, "formatting") || strings.Contains(errOut, "expected one argument") {
		t.Errorf("start went on to format a node:\n%s", errOut)
	}
	if _, _, code := s.do("status"); code != 1 {
		t.Errorf("status after a failed start: exit %d, want 1 (not running)", code)
	}
}
