package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/weirstream/weir/profile"
)

var lagLine = regexp.MustCompile(`^weir_consumer_lag\{partition="(\d+)",topic="([^"]+)"\} (\S+)$`)

// TestRunSIGTERMCommitsAndLeaves runs `weir run`, lets it fetch its
// input, and sends SIGTERM: the process must exit 0 promptly, having
// committed what it consumed, and the group must have no member right
// after, although the session timeout (60 s) would still list one that
// did not leave. The commit interval is 10 minutes, so the only commit
// is the one SIGTERM makes.
func TestRunSIGTERMCommitsAndLeaves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := buildWeir(ctx, t)
	pc := newProfilesCluster(ctx, t, 3)
	c, app, prefix, tp := pc.c, pc.app, pc.prefix, pc.tp
	pc.produce(ctx, t, profile.Generate(7, 600, profile.GenOptions{Customers: 30}))
	inputs := []string{tp.Views, tp.Purchases, tp.Tickets}
	ends, err := c.Admin().ListEndOffsets(ctx, inputs...)
	if err != nil {
		t.Fatal(err)
	}

	httpAddr := freeAddr(t)
	cmd := exec.Command(bin, "run", "-pipeline", "profiles", "-auto-register",
		"-app", app, "-topic-prefix", prefix, "-state-dir", t.TempDir(),
		"-commit-interval", "10m", "-session-timeout", "60s",
		"-http", httpAddr, "-http-no-auth")
	// Brokers and registry from the environment, as a container sets them.
	cmd.Env = append(os.Environ(), "WEIR_BROKERS="+strings.Join(c.Brokers, ","), "WEIR_REGISTRY="+c.Registry)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu             sync.Mutex
		stderr, outTxt strings.Builder
	)
	cmd.Stderr = lockedWriter{&mu, &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	outDone := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			outTxt.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
		close(outDone)
	}()
	go func() { <-outDone; exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-outDone
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("stdout:\n%s\nstderr (tail):\n%s", outTxt.String(), tail(stderr.String(), 4000))
		}
	})

	// Wait until the worker has fetched every input record (its lag
	// gauge is 0 on every partition that holds any) and no task is
	// paused (on real Kafka a first decode may wait on the registry),
	// twice in a row: the loop processes what it fetched before it
	// looks at the signal, unless a task is paused.
	fetchedAll := func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		lag := map[string]float64{}
		if !strings.Contains(string(b), "\nweir_tasks_paused 0\n") {
			return false
		}
		for _, l := range strings.Split(string(b), "\n") {
			if m := lagLine.FindStringSubmatch(l); m != nil {
				v, _ := strconv.ParseFloat(m[3], 64)
				lag[m[2]+"/"+m[1]] = v
			}
		}
		all := true
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset == 0 {
				return
			}
			if v, ok := lag[o.Topic+"/"+strconv.Itoa(int(o.Partition))]; !ok || v != 0 {
				all = false
			}
		})
		return all
	}
	for settled := 0; settled < 2; {
		if fetchedAll() {
			settled++
		} else {
			settled = 0
		}
		select {
		case err := <-exited:
			t.Fatalf("weir run exited before fetching its input: %v", err)
		case <-ctx.Done():
			t.Fatal("weir run never fetched all its input")
		case <-time.After(100 * time.Millisecond): // poll: the gauges have no event to wait on
		}
	}
	mu.Lock()
	ranEarly := strings.Contains(outTxt.String(), "weir: running")
	mu.Unlock()
	if ranEarly {
		t.Fatal("a commit happened before SIGTERM: the test would not show that SIGTERM commits")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("weir run exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("weir run still running 20 s after SIGTERM")
	}
	t.Logf("exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))

	// The member left: no need to wait out the 60 s session timeout.
	groups, err := c.Admin().DescribeGroups(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	g := groups[app]
	if g.Err != nil || len(g.Members) != 0 || g.State != "Empty" {
		t.Errorf("group %s right after exit: state %q, %d members, err %v; want Empty with none", app, g.State, len(g.Members), g.Err)
	}
	// What it consumed is committed: every input partition's offset is
	// at its end.
	committed, err := c.Admin().FetchOffsets(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		got, _ := committed.Lookup(o.Topic, o.Partition)
		if o.Offset > 0 && got.At != o.Offset {
			t.Errorf("%s/%d: committed offset %d, want the end %d", o.Topic, o.Partition, got.At, o.Offset)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(outTxt.String(), "weir: running") {
		t.Error(`stdout lacks "weir: running": the final commit did not commit`)
	}
	if !strings.Contains(stderr.String(), "committed and left the group") {
		t.Error(`the log does not say "committed and left the group"`)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }
