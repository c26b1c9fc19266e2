package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/events"
)

// journeyEvent is an event as the SDK made it, printed by journey.mjs.
type journeyEvent struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	AnonymousID string            `json:"anonymous_id"`
	CustomerID  *string           `json:"customer_id"`
	SessionID   string            `json:"session_id"`
	Context     map[string]string `json:"context"`
	Fields      json.RawMessage   `json:"fields"`
}

func (e journeyEvent) key() string {
	if e.CustomerID != nil && *e.CustomerID != "" {
		return *e.CustomerID
	}
	return e.AnonymousID
}

// A page with the browser SDK, in headless Chromium, sends its events
// through weir collect into Kafka, and a weir run worker turns them into
// profiles: the journey (sdk/js/e2e/journey.mjs) views, adds to cart,
// signs in, goes offline and back, reloads with events queued, and
// closes the page right after its last clicks (the beacon). Every event
// is in Kafka exactly once, with its context, and each customer's
// profile has applied exactly its events.
func TestBrowserJourneyThroughCollectorToProfiles(t *testing.T) {
	chromium := os.Getenv("WEIR_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	sdk, _ := filepath.Abs("../../sdk/js")
	for _, need := range []struct{ path, fix string }{
		{chromium, "install Debian's chromium (apt-get install chromium) or set WEIR_CHROMIUM"},
		{filepath.Join(sdk, "dist/weir.js"), "build the SDK: make sdk (npm ci && npm run build in sdk/js)"},
		{filepath.Join(sdk, "node_modules/puppeteer-core"), "install the SDK's dev dependencies: make sdk"},
	} {
		if _, err := os.Stat(need.path); err != nil {
			t.Fatalf("%s is missing: %s", need.path, need.fix)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := buildWeir(ctx, t)
	pc := newProfilesCluster(ctx, t, 3)
	c, prefix := pc.c, pc.prefix
	env := append(os.Environ(), "WEIR_BROKERS="+strings.Join(c.Brokers, ","), "WEIR_REGISTRY="+c.Registry)

	// The shop's pages, on an origin other than the collector's.
	page := http.NewServeMux()
	page.HandleFunc("GET /shop.html", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(sdk, "e2e/shop.html"))
	})
	page.HandleFunc("GET /weir.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, filepath.Join(sdk, "dist/weir.js")) })
	shop := httptest.NewServer(page)
	defer shop.Close()

	const key = "wk_e2e_shop_0001"
	collector := startWeir(t, exec.Command(bin, "collect", "-listen", "127.0.0.1:0", "-register-schemas",
		"-topic-prefix", prefix, "-write-keys", "shop="+key, "-allowed-origins", shop.URL,
		"-transactional-id", c.Name("collector")), env)
	addr := strings.TrimSuffix(strings.TrimPrefix(collector.waitLine(ctx, t, "collector: "), "collector: "), "/v1/events")
	startWeir(t, exec.Command(bin, "run", "-pipeline", "profiles", "-auto-register", "-app", pc.app,
		"-topic-prefix", prefix, "-state-dir", t.TempDir()), env)

	node := exec.CommandContext(ctx, "node", filepath.Join(sdk, "e2e/journey.mjs"))
	node.Env = append(os.Environ(), "WEIR_CHROMIUM="+chromium,
		"WEIR_E2E_PAGE="+shop.URL+"/shop.html?endpoint="+url.QueryEscape(addr)+"&key="+key)
	var stderr strings.Builder
	node.Stderr = &stderr
	out, err := node.Output()
	if err != nil {
		t.Fatalf("journey.mjs: %v\nstderr:\n%s\ncollector:\n%s", err, stderr.String(), collector.output())
	}
	var journey struct {
		Events        []journeyEvent `json:"events"`
		ConsoleErrors []string       `json:"console_errors"`
	}
	if err := json.Unmarshal(out, &journey); err != nil {
		t.Fatalf("journey output: %v\n%s", err, out)
	}
	t.Logf("journey: %d events; stderr:\n%s", len(journey.Events), stderr.String())
	if len(journey.ConsoleErrors) > 0 {
		t.Errorf("console errors on the page: %q", journey.ConsoleErrors)
	}
	if len(journey.Events) < 10 {
		t.Fatalf("the journey made %d events, want at least 10", len(journey.Events))
	}

	// Every event in Kafka, exactly once, with its context. The beacon
	// may land after the script exits, so read until all are there, then
	// once more to the end to count copies.
	inputs := []string{pc.tp.Views, pc.tp.Purchases, pc.tp.Tickets}
	want := map[string]journeyEvent{}
	for _, e := range journey.Events {
		want[e.ID] = e
	}
	seen := map[string]int{}
	ctxOf := map[string]events.Context{}
	keyOf := map[string]string{}
	cl := c.Client(kgo.ConsumeTopics(inputs...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	last := map[string]map[int32]int64{} // offset of the last record read
	missing := func() int {
		n := 0
		for id := range want {
			if seen[id] == 0 {
				n++
			}
		}
		return n
	}
	decode := func(r *kgo.Record) {
		if last[r.Topic] == nil {
			last[r.Topic] = map[int32]int64{}
		}
		last[r.Topic][r.Partition] = r.Offset
		if r.Attrs.IsControl() {
			return
		}
		var ec events.Context
		var err error
		switch r.Topic {
		case pc.tp.Views:
			var v events.PageView
			v, err = pc.serdes.PageView.Decode(r.Topic, r.Value)
			ec = v.Context
		case pc.tp.Purchases:
			var v events.PurchaseEvent
			v, err = pc.serdes.Purchase.Decode(r.Topic, r.Value)
			ec = v.Context
		default:
			var v events.SupportTicket
			v, err = pc.serdes.Ticket.Decode(r.Topic, r.Value)
			ec = v.Context
		}
		if err != nil {
			t.Fatalf("%s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		seen[ec.EventID]++
		ctxOf[ec.EventID], keyOf[ec.EventID] = ec, string(r.Key)
	}
	for missing() > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d events never reached Kafka; collector:\n%s", missing(), len(want), collector.output())
		}
		fs.EachRecord(decode)
	}
	// Read on to the last stable offsets: a duplicate would be there.
	ends, err := c.Admin().ListCommittedOffsets(ctx, inputs...)
	if err != nil {
		t.Fatal(err)
	}
	for !reached(ends, last) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading to the last stable offsets: %v", ctx.Err())
		}
		fs.EachRecord(decode)
	}
	for id, n := range seen {
		e, ok := want[id]
		if !ok {
			continue // events of other tests share no topics; none expected
		}
		if n != 1 {
			t.Errorf("event %s (%s) in Kafka %d times, want exactly once", id, e.Type, n)
		}
		ec := ctxOf[id]
		if keyOf[id] != e.key() {
			t.Errorf("event %s keyed %q, want %q", id, keyOf[id], e.key())
		}
		if ec.AnonymousID == nil || *ec.AnonymousID != e.AnonymousID || ec.SessionID == nil || *ec.SessionID != e.SessionID ||
			ec.Locale == nil || *ec.Locale != e.Context["locale"] || ec.Viewport == nil || *ec.Viewport != e.Context["viewport"] ||
			string(ec.Device.Type) != e.Context["device_type"] || ec.Device.UserAgent == nil || *ec.Device.UserAgent != e.Context["user_agent"] ||
			ec.ReceivedTime == nil {
			t.Errorf("event %s context in Kafka %+v, the page's %+v", id, ec, e.Context)
		}
	}

	// Each customer's profile (the anonymous visitor's and, after sign
	// in, the customer's) has applied exactly that customer's events.
	count := map[string]int64{}
	purchases := map[string]int64{}
	for _, e := range journey.Events {
		count[e.key()]++
		if e.Type == "purchase" {
			purchases[e.key()]++
		}
	}
	latest := map[string]events.ProfileUpdate{}
	ucl := c.Client(kgo.ConsumeTopics(pc.tp.Updates), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	done := func() bool {
		for k, n := range count {
			if latest[k].Version != n {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := ucl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("profiles never caught up: want versions %v, have %v", count, versions(latest))
		}
		fs.EachRecord(func(r *kgo.Record) {
			u, err := pc.serdes.Update.Decode(r.Topic, r.Value)
			if err != nil {
				t.Fatalf("profile update: %v", err)
			}
			if u.Version > latest[u.CustomerID].Version {
				latest[u.CustomerID] = u
			}
		})
	}
	for k, n := range purchases {
		if latest[k].Purchases != n {
			t.Errorf("profile %s: %d purchases, the page made %d", k, latest[k].Purchases, n)
		}
	}
	t.Logf("profiles: %v", versions(latest))
}

func versions(m map[string]events.ProfileUpdate) map[string]int64 {
	out := map[string]int64{}
	for k, u := range m {
		out[k] = u.Version
	}
	return out
}

// reached says whether the reads got to every partition's end.
func reached(ends kadm.ListedOffsets, last map[string]map[int32]int64) bool {
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			if l, seen := last[o.Topic][o.Partition]; !seen || l < o.Offset-1 {
				ok = false
			}
		}
	})
	return ok
}

// weirProc is a weir process started by a test, killed at its end.
type weirProc struct {
	mu    sync.Mutex
	out   strings.Builder // stdout and stderr
	lines chan string     // stdout lines
}

func startWeir(t *testing.T, cmd *exec.Cmd, env []string) *weirProc {
	t.Helper()
	cmd.Env = env
	p := &weirProc{lines: make(chan string, 1024)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = lockedWriter{&p.mu, &p.out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.lines) // the process ended: waitLine stops waiting
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", filepath.Base(cmd.Path)+" "+cmd.Args[1], tail(p.output(), 4000))
		}
	})
	return p
}

// waitLine returns the first stdout line starting with prefix.
func (p *weirProc) waitLine(ctx context.Context, t *testing.T, prefix string) string {
	t.Helper()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("exited before printing %q; output:\n%s", prefix, p.output())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-ctx.Done():
			t.Fatalf("no line %q; output:\n%s", prefix, p.output())
		}
	}
}

func (p *weirProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}
