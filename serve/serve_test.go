package serve_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/serve"
	"github.com/weirstream/weir/topology"
)

// fake owns the customers in mine (nil value: owned, no profile); errs
// fails the others listed; for the rest it names owner.
type fake struct {
	mine  map[string][]byte
	errs  map[string]error
	owner string
	ready bool
}

func (f *fake) Get(store string, key []byte) ([]byte, bool, error) {
	if store != profile.StoreProfiles {
		return nil, false, processor.ErrUnknownStore
	}
	if err := f.errs[string(key)]; err != nil {
		return nil, false, err
	}
	if v, ok := f.mine[string(key)]; ok {
		return v, v != nil, nil
	}
	return nil, false, &processor.NotOwnerError{Owner: f.owner}
}
func (f *fake) Ready() bool { return f.ready }

// stored encodes p the way the profile store keeps it.
func stored(t *testing.T, p events.ProfileUpdate) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"profile": p})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := profile.DecodeStored(b); err != nil || got.CustomerID != p.CustomerID {
		t.Fatalf("profile store encoding is not JSON of ProfileUpdate: %v", err)
	}
	return b
}

func get(t *testing.T, url string) (int, http.Header, events.ProfileUpdate) {
	t.Helper()
	code, h, b := getRaw(t, url, nil)
	var p events.ProfileUpdate
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("GET %s: status %d body %q is not JSON: %v", url, code, b, err)
	}
	return code, h, p
}

func getRaw(t *testing.T, url string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestProfilesFromAnyWorker(t *testing.T) {
	a, b := &fake{ready: true}, &fake{ready: true}
	sa := httptest.NewServer(nil)
	sb := httptest.NewServer(nil)
	defer sa.Close()
	defer sb.Close()
	addrA, addrB := strings.TrimPrefix(sa.URL, "http://"), strings.TrimPrefix(sb.URL, "http://")
	a.owner, b.owner = addrB, addrA
	sa.Config.Handler = serve.New(a, serve.Options{Self: addrA})
	sb.Config.Handler = serve.New(b, serve.Options{Self: addrB})
	a.mine = map[string][]byte{"c-1": stored(t, events.ProfileUpdate{CustomerID: "c-1", Known: true, Version: 7}), "c-unknown": nil}

	for _, base := range []string{sa.URL, sb.URL} {
		code, h, p := get(t, base+"/v1/profiles/c-1")
		if code != 200 || p.Version != 7 || !p.Known || h.Get("X-Weir-Served-By") != addrA {
			t.Fatalf("%s: status %d served by %q profile %+v; want 200 from the owner %s", base, code, h.Get("X-Weir-Served-By"), p, addrA)
		}
		code, _, p = get(t, base+"/v1/profiles/c-unknown")
		if code != 404 || p.Known || p.CustomerID != "c-unknown" || p.Segment != profile.Default("c-unknown").Segment {
			t.Fatalf("%s: unknown customer: status %d profile %+v; want 404 with the default profile", base, code, p)
		}
	}
	// The wire form uses the documented snake_case names.
	code, _, raw := getRaw(t, sb.URL+"/v1/profiles/c-unknown", nil)
	if code != 404 || !strings.Contains(string(raw), `"known":false`) || !strings.Contains(string(raw), `"customer_id":"c-unknown"`) {
		t.Fatalf("default profile body %q", raw)
	}
	// Neither owns c-2 (each names the other): A forwards once, B does not
	// forward the forwarded request back, and the 503 comes through.
	code, h, raw := getRaw(t, sa.URL+"/v1/profiles/c-2", nil)
	if code != http.StatusServiceUnavailable || h.Get("X-Weir-Served-By") != addrB || h.Get("Retry-After") != "1" {
		t.Fatalf("loop: status %d served by %q retry-after %q body %q; want 503 from B", code, h.Get("X-Weir-Served-By"), h.Get("Retry-After"), raw)
	}
	// A request already forwarded is answered locally or refused.
	code, h, _ = getRaw(t, sb.URL+"/v1/profiles/c-1", http.Header{"X-Weir-Forwarded": {"1"}})
	if code != http.StatusServiceUnavailable || h.Get("X-Weir-Served-By") != addrB {
		t.Fatalf("forwarded request to a non-owner: status %d served by %q; want 503 from B", code, h.Get("X-Weir-Served-By"))
	}
	code, h, _ = getRaw(t, sa.URL+"/v1/profiles/c-1", http.Header{"X-Weir-Forwarded": {"1"}})
	if code != 200 || h.Get("X-Weir-Served-By") != addrA {
		t.Fatalf("forwarded request to the owner: status %d served by %q; want 200 from A", code, h.Get("X-Weir-Served-By"))
	}
}

func TestProfileErrors(t *testing.T) {
	dead := httptest.NewServer(nil)
	deadAddr := strings.TrimPrefix(dead.URL, "http://")
	dead.Close() // an owner that no longer listens
	f := &fake{owner: deadAddr, errs: map[string]error{
		"restoring": processor.ErrNotReady,
		"orphan":    &processor.NotOwnerError{}, // owner unknown
		"broken":    errors.New("disk on fire"),
	}}
	s := httptest.NewServer(serve.New(f, serve.Options{Client: &http.Client{Timeout: 5 * time.Second}}))
	defer s.Close()
	for _, tc := range []struct {
		id    string
		code  int
		retry string
	}{
		{"restoring", 503, "1"},
		{"orphan", 503, "1"},
		{"elsewhere", 503, "1"}, // forward fails
		{"broken", 500, ""},
	} {
		code, h, raw := getRaw(t, s.URL+"/v1/profiles/"+tc.id, nil)
		var body struct{ Error string }
		if err := json.Unmarshal(raw, &body); err != nil || body.Error == "" {
			t.Errorf("%s: body %q is not a JSON error", tc.id, raw)
		}
		if code != tc.code || h.Get("Retry-After") != tc.retry {
			t.Errorf("%s: status %d Retry-After %q; want %d %q", tc.id, code, h.Get("Retry-After"), tc.code, tc.retry)
		}
	}
}

func TestReadiness(t *testing.T) {
	f := &fake{}
	s := httptest.NewServer(serve.New(f, serve.Options{}))
	defer s.Close()
	status := func(path string) int {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status("/healthz") != 200 || status("/readyz") != 503 {
		t.Fatal("healthz must be 200 and readyz 503 while restoring")
	}
	f.ready = true
	if status("/readyz") != 200 {
		t.Fatal("readyz must be 200 once ready")
	}
}

// openStream connects to /v1/triggers and reads up to the subscription
// comment, after which the server has the client registered.
func openStream(t *testing.T, ctx context.Context, url string) (*bufio.Reader, io.Closer) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/triggers", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("triggers: status %d content type %q", resp.StatusCode, ct)
	}
	r := bufio.NewReader(resp.Body)
	if c, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(c, ":") {
		t.Fatalf("first line %q, %v; want an SSE comment", c, err)
	}
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return r, resp.Body
}

func readEvent(t *testing.T, r *bufio.Reader) (typ string, tr events.Trigger) {
	t.Helper()
	ev, err1 := r.ReadString('\n')
	data, err2 := r.ReadString('\n')
	blank, err3 := r.ReadString('\n')
	if err := errors.Join(err1, err2, err3); err != nil || blank != "\n" {
		t.Fatalf("event %q %q %q: %v", ev, data, blank, err)
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &tr); err != nil {
		t.Fatalf("data line %q: %v", data, err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(ev, "event: "), "\n"), tr
}

func TestTriggersStream(t *testing.T) {
	srv := serve.New(&fake{}, serve.Options{})
	s := httptest.NewServer(srv)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r1, c1 := openStream(t, ctx, s.URL)
	r2, c2 := openStream(t, ctx, s.URL)
	defer c2.Close()
	want := events.Trigger{TriggerID: "c-1:at_risk:3", CustomerID: "c-1", Type: "at_risk", Score: 0.5}
	srv.Publish(want)
	for i, r := range []*bufio.Reader{r1, r2} {
		typ, got := readEvent(t, r)
		if typ != "at_risk" || got.TriggerID != want.TriggerID || got.CustomerID != "c-1" || got.Score != 0.5 {
			t.Fatalf("client %d got %s %+v; want %+v", i+1, typ, got, want)
		}
	}
	c1.Close()
	if err := srv.WaitSubscribers(ctx, 1); err != nil {
		t.Fatalf("disconnected client not cleaned up: %v", err)
	}
	srv.Publish(events.Trigger{TriggerID: "c-2:high_intent:1", Type: "high_intent"})
	if typ, got := readEvent(t, r2); typ != "high_intent" || got.TriggerID != "c-2:high_intent:1" {
		t.Fatalf("remaining client got %s %+v", typ, got)
	}
}

// A client that never reads must not hold up Publish: it is dropped and
// its stream ends.
func TestSlowTriggerClientDropped(t *testing.T) {
	srv := serve.New(&fake{}, serve.Options{TriggerBuffer: 1})
	s := httptest.NewServer(srv)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, c := openStream(t, ctx, s.URL)
	defer c.Close()
	done := make(chan int)
	go func() {
		n := 0
		for srv.Subscribers() > 0 && n < 10_000_000 {
			srv.Publish(events.Trigger{TriggerID: strings.Repeat("x", 100), Type: "cart_abandoned"})
			n++
		}
		done <- n
	}()
	select {
	case n := <-done:
		if srv.Subscribers() != 0 {
			t.Fatalf("slow client still subscribed after %d publishes", n)
		}
	case <-ctx.Done():
		t.Fatal("Publish blocked on a slow client")
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("dropped client's stream: %v; want a clean end", err)
	}
}

func TestMetricsExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := serve.NewMetrics(reg)
	m.Processed(topology.TaskID{Subtopology: 0, Partition: 2}, topology.TaskStats{RecordsIn: 5, DeadLettered: 3, DeadLetteredUndecodable: 1})
	m.Committed(10*time.Millisecond, true)
	m.Committed(30*time.Millisecond, false)
	m.Assigned(3, 1)
	m.Lag("gone", 0, 7) // moves away in the next rebalance
	m.Restored("cl", 1, 5, 50)
	m.Assigned(4, 2)
	m.Restored("cl", 0, 10, 90)
	m.Restored("cl", 0, 30, 70)
	m.EndToEnd(20 * time.Millisecond)
	m.Lag("in", 1, 42)
	m.GroupLag("in", 1, 50)
	s := httptest.NewServer(serve.New(&fake{}, serve.Options{Gatherer: reg}))
	defer s.Close()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`weir_records_in_total{partition="2",subtopology="0"} 5`,
		`weir_records_dead_lettered_total{kind="undecodable",partition="2",subtopology="0"} 1`,
		`weir_records_dead_lettered_total{kind="failed",partition="2",subtopology="0"} 2`,
		`weir_commit_seconds_count{outcome="committed"} 1`,
		`weir_commit_seconds_count{outcome="aborted"} 1`,
		`weir_transactions_aborted_total 1`,
		`weir_rebalances_total 2`,
		`weir_tasks{kind="active"} 4`,
		`weir_tasks{kind="standby"} 2`,
		`weir_ready 0`,
		`weir_restored_records_total{partition="0",topic="cl"} 30`,
		`weir_restore_remaining_records{partition="0",topic="cl"} 70`,
		`weir_end_to_end_seconds_count 1`,
		`weir_consumer_lag{partition="1",topic="in"} 42`,
		`weir_group_lag{partition="1",topic="in"} 50`,
		`weir_restore_remaining_records{partition="1",topic="cl"} 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(b), `topic="gone"`) {
		t.Errorf("lag of a partition that moved away is still exposed")
	}
}

func TestDefaultMetricsRegistry(t *testing.T) {
	srv := serve.New(&fake{}, serve.Options{})
	if srv.Metrics() == nil {
		t.Fatal("no Metrics with the default registry")
	}
	srv.Metrics().Committed(time.Millisecond, false)
	s := httptest.NewServer(srv)
	defer s.Close()
	_, _, b := getRaw(t, s.URL+"/metrics", nil)
	if !strings.Contains(string(b), `weir_commit_seconds_count{outcome="aborted"} 1`) {
		t.Fatalf("default /metrics lacks the server's metrics:\n%s", b)
	}
}

func TestP99(t *testing.T) {
	m := serve.NewMetrics(prometheus.NewRegistry())
	if got := m.P99(); got != 0 {
		t.Fatalf("P99 with no samples = %v, want 0", got)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	// Old slow samples fall out of the window.
	for range 5000 {
		m.EndToEnd(time.Hour)
	}
	for _, i := range rng.Perm(1000) {
		m.EndToEnd(time.Duration(i+1) * time.Millisecond)
	}
	if got := m.P99(); got != time.Hour {
		t.Fatalf("seed %d: P99 = %v with 3096 hour-long samples in the window, want 1h", seed, got)
	}
	for range 3096 {
		m.EndToEnd(time.Millisecond)
	}
	// Window: 1000 samples 1..1000ms and 3096 of 1ms; rank ceil(.99*4096)
	// = 4056 is sample 960 of the 1..1000 ms run (3096 + 960).
	if got := m.P99(); got != 960*time.Millisecond {
		t.Fatalf("seed %d: P99 = %v, want 960ms", seed, got)
	}
}

type sized struct {
	fake
	bytes int64
}

func (s *sized) StateBytes() (int64, error) { return s.bytes, nil }

// Readiness and state size are read off the backend at scrape time.
func TestBackendGauges(t *testing.T) {
	b := &sized{bytes: 12345}
	s := httptest.NewServer(serve.New(b, serve.Options{}))
	defer s.Close()
	_, _, body := getRaw(t, s.URL+"/metrics", nil)
	for _, want := range []string{"weir_ready 0", "weir_state_bytes 12345"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	b.ready, b.bytes = true, 99
	_, _, body = getRaw(t, s.URL+"/metrics", nil)
	for _, want := range []string{"weir_ready 1", "weir_state_bytes 99"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q after the change", want)
		}
	}
}
