package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
)

// demoJourney is what internal/journey/web/e2e/demo.mjs prints.
type demoJourney struct {
	Customer    string               `json:"customer"`
	LatencyMs   map[string]float64   `json:"latency_ms"`
	WorkersSeen []int                `json:"workers_seen"`
	Profile     events.ProfileUpdate `json:"profile"`
	Operator    struct {
		Workers      int     `json:"workers"`
		EventsPerSec float64 `json:"events_per_sec"`
	} `json:"operator"`
	ConsoleErrors []string `json:"console_errors"`
	Screenshots   []string `json:"screenshots"`
}

// A person's journey through `weir demo`'s pages, in headless Chromium
// (internal/journey/web/e2e/demo.mjs): sign in, add a product to the
// cart and see it in the live profile panel; check out and see purchases
// and lifetime value change; file a negative ticket and see at-risk, its
// trigger and the engine's webhook; the operator view shows both workers
// and throughput; stop the worker serving the panel and see the panel
// move to the other worker and keep updating. Then Kafka holds each of
// the person's events once and the served profile applied exactly those,
// and the demo, stopped with Ctrl-C, passes its own exactly-once check.
// The click-to-profile latency measured on the page is reported, not
// asserted. WEIR_UPDATE_SCREENSHOTS=1 writes the screenshots to
// docs/screenshots (the README shows them).
func TestBrowserDemo(t *testing.T) {
	chromium := os.Getenv("WEIR_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	web, _ := filepath.Abs("../../internal/journey/web")
	for _, need := range []struct{ path, fix string }{
		{chromium, "install Debian's chromium (apt-get install chromium) or set WEIR_CHROMIUM"},
		{filepath.Join(web, "node_modules/puppeteer-core"), "install the pages' dev dependencies: make web"},
	} {
		if _, err := os.Stat(need.path); err != nil {
			t.Fatalf("%s is missing: %s", need.path, need.fix)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	bin := buildWeir(ctx, t)
	c := kafkatest.New(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	prefix := c.Name("") + "."
	cmd := exec.Command(bin, "demo", "-brokers", strings.Join(c.Brokers, ","), "-registry", c.Registry,
		"-app", c.Name("app"), "-topic-prefix", prefix, "-http", "127.0.0.1:0", "-web", "127.0.0.1:0",
		"-rate", "150", "-customers", "300", "-seed", fmt.Sprint(seed), "-timeout", "90s")
	d := startDemoProcess(t, cmd)
	// In the order the demo prints them.
	token := d.wait(ctx, t, regexp.MustCompile(`^demo: profiles and triggers need the token (\S+),`))[1]
	pages := d.wait(ctx, t, regexp.MustCompile(`^demo: open (http://\S+)/ `))[1]

	shots, history := t.TempDir(), "0"
	if os.Getenv("WEIR_UPDATE_SCREENSHOTS") != "" {
		// The docs' operator view shows two minutes of history.
		shots, history = filepath.Join(web, "../../../docs/screenshots"), "120"
	}
	customer := fmt.Sprintf("c-e2e-%d", seed%1_000_000)
	node := exec.CommandContext(ctx, "node", filepath.Join(web, "e2e/demo.mjs"))
	node.Env = append(os.Environ(), "WEIR_CHROMIUM="+chromium, "WEIR_DEMO_URL="+pages,
		"WEIR_E2E_CUSTOMER="+customer, "WEIR_SCREENSHOTS="+shots, "WEIR_E2E_OPERATOR_HISTORY="+history)
	var stderr strings.Builder
	node.Stderr = &stderr
	out, err := node.Output()
	if err != nil {
		t.Fatalf("demo.mjs: %v\nstderr:\n%s\nweir demo:\n%s", err, stderr.String(), tail(d.output(), 4000))
	}
	var j demoJourney
	if err := json.Unmarshal(out, &j); err != nil {
		t.Fatalf("demo.mjs output: %v\n%s", err, out)
	}
	t.Logf("demo.mjs:\n%s", stderr.String())
	// The number a person would quote: click to profile, measured on the page.
	t.Logf("click to profile panel: add_to_cart %.0f ms, purchase %.0f ms, support_ticket %.0f ms",
		j.LatencyMs["add_to_cart"], j.LatencyMs["purchase"], j.LatencyMs["support_ticket"])

	if len(j.ConsoleErrors) > 0 {
		t.Errorf("console errors on the pages: %q", j.ConsoleErrors)
	}
	p := j.Profile
	if j.Customer != customer || p.CustomerID != customer {
		t.Errorf("the journey was of %q with profile %q, want %q", j.Customer, p.CustomerID, customer)
	}
	if p.Purchases < 1 || p.LifetimeValueCents <= 0 || !p.AtRisk || len(p.CartItems) == 0 {
		t.Errorf("final profile %+v: want a purchase, lifetime value, at risk and the product added after the failover in the cart", p)
	}
	if len(j.WorkersSeen) != 2 || j.WorkersSeen[0] == j.WorkersSeen[1] {
		t.Errorf("the panel was served by workers %v, want one and then the other", j.WorkersSeen)
	}
	if j.Operator.Workers != 2 || j.Operator.EventsPerSec <= 0 {
		t.Errorf("operator view: %+v, want 2 workers and throughput", j.Operator)
	}
	for _, name := range []string{"shop.png", "profile.png", "operator.png"} {
		checkPNG(t, filepath.Join(shots, name))
	}

	// Every event of the person went through Kafka once, and the profile
	// served now applied exactly those.
	tp := profile.PrefixedTopics(prefix)
	n := countKeyed(ctx, t, c, customer, tp.Views, tp.Purchases, tp.Tickets)
	if n < 5 {
		t.Fatalf("%d of the person's events in Kafka, the journey made at least 5", n)
	}
	served := servedVersion(ctx, t, d.workerAddrs(), token, customer, n)
	if served != n {
		t.Fatalf("the profile of %s is at version %d, Kafka holds %d of its events", customer, served, n)
	}
	t.Logf("%s: %d events in Kafka, profile version %d", customer, n, served)

	// An event of a generated customer from outside the generator (as a
	// person signed in as c-00001 would send): the demo's check counts
	// the inputs, so it still holds.
	postEvent(ctx, t, pages, map[string]any{
		"id": fmt.Sprintf("e2e-%d", seed), "type": "page_view", "time": time.Now().UTC().Format(time.RFC3339Nano),
		"anonymous_id": "anon-e2e", "customer_id": "c-00001",
		"fields": map[string]any{"url": pages + "/?product=p-0001", "page_type": "PRODUCT", "product_id": "p-0001"},
	})

	// Ctrl-C: the demo stops generating, catches up and checks.
	cmd.Process.Signal(os.Interrupt)
	if err := d.exit(ctx); err != nil {
		t.Fatalf("weir demo after Ctrl-C: %v\n%s", err, tail(d.output(), 4000))
	}
	if !strings.Contains(d.output(), "demo: events=") {
		t.Fatalf("weir demo ended without its result line:\n%s", tail(d.output(), 4000))
	}
}

// demoProcess is a running `weir demo`, its stderr read by lines.
type demoProcess struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   strings.Builder
	lines chan string
	done  chan error
}

func startDemoProcess(t *testing.T, cmd *exec.Cmd) *demoProcess {
	t.Helper()
	d := &demoProcess{cmd: cmd, lines: make(chan string, 4096), done: make(chan error, 1)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = lockedWriter{&d.mu, &d.out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.out.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			select {
			case d.lines <- sc.Text():
			default:
			}
		}
		close(d.lines)
		d.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range d.lines {
		}
		<-d.done
		d.done <- nil // for exit, if it runs after
	})
	return d
}

// wait returns the submatches of the first line matching re.
func (d *demoProcess) wait(ctx context.Context, t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				t.Fatalf("weir demo ended before printing %v:\n%s", re, d.output())
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-ctx.Done():
			t.Fatalf("weir demo never printed %v:\n%s", re, d.output())
		}
	}
}

func (d *demoProcess) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// workerAddrs are the workers' API addresses the demo printed.
func (d *demoProcess) workerAddrs() []string {
	re := regexp.MustCompile(`(?m)^demo: worker \d+ serving http://(\S+) `)
	var out []string
	for _, m := range re.FindAllStringSubmatch(d.output(), -1) {
		out = append(out, m[1])
	}
	return out
}

// exit waits for the process to end and returns how it ended.
func (d *demoProcess) exit(ctx context.Context) error {
	for { // drain, so the reader reaches Wait
		select {
		case _, ok := <-d.lines:
			if ok {
				continue
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		break
	}
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("screenshot %s: %v", path, err)
		return
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
		t.Errorf("screenshot %s is %v, too small to show the page", path, b)
	}
}

// countKeyed counts the records keyed key in topics, reading committed
// records up to the last stable offsets.
func countKeyed(ctx context.Context, t *testing.T, c *kafkatest.Cluster, key string, topics ...string) int64 {
	t.Helper()
	var n int64
	if err := processor.ReadToEnd(ctx, topics, func(r processor.FollowedRecord) error {
		if string(r.Key) == key {
			n++
		}
		return nil
	}, processor.SeedBrokers(c.Brokers...)); err != nil {
		t.Fatal(err)
	}
	return n
}

// servedVersion asks the running workers for id's profile until one
// answers with version want (or a later one), or a minute passes, and
// returns the last version served.
func servedVersion(ctx context.Context, t *testing.T, addrs []string, token, id string, want int64) int64 {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(time.Minute)
	var got int64 = -1
	for time.Now().Before(deadline) {
		for _, addr := range addrs {
			p, status, err := getProfile(ctx, cl, addr, token, id)
			if err != nil || status != http.StatusOK {
				continue // the worker the journey stopped
			}
			if got = p.Version; got >= want {
				return got
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond): // state follows its commit
		}
	}
	return got
}

func getProfile(ctx context.Context, cl *http.Client, addr, token, id string) (events.ProfileUpdate, int, error) {
	var p events.ProfileUpdate
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/profiles/"+id, nil)
	if err != nil {
		return p, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := cl.Do(req)
	if err != nil {
		return p, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p, resp.StatusCode, nil
	}
	return p, resp.StatusCode, json.NewDecoder(resp.Body).Decode(&p)
}

// postEvent sends one event to the collector the demo's pages use.
func postEvent(ctx context.Context, t *testing.T, pages string, ev map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"sent_at": time.Now().UTC().Format(time.RFC3339Nano), "events": []any{ev}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pages+"/v1/events", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Weir-Write-Key", "wk_demo_shop_0001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s/v1/events: %d %s", pages, resp.StatusCode, b)
	}
}
