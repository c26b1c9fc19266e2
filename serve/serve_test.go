package serve_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
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

// fake owns the customers in mine; for the others it names owner.
type fake struct {
	mine  map[string][]byte
	owner string
	ready bool
}

func (f *fake) Get(store string, key []byte) ([]byte, bool, error) {
	if store != profile.StoreProfiles {
		return nil, false, processor.ErrUnknownStore
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
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p events.ProfileUpdate
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &p)
	return resp.StatusCode, resp.Header, p
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
	// Neither owns c-2: each forwards once, and the forwarded request is
	// not forwarded again.
	code, _, _ := get(t, sa.URL+"/v1/profiles/c-2")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("loop: status %d, want 503", code)
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

func TestTriggersStream(t *testing.T) {
	srv := serve.New(&fake{}, serve.Options{})
	s := httptest.NewServer(srv)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := func() (*bufio.Reader, func()) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/triggers", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
	}
	r1, close1 := open()
	r2, close2 := open()
	defer close2()
	for srv.Subscribers() < 2 {
		if ctx.Err() != nil {
			t.Fatal("clients never subscribed")
		}
		time.Sleep(time.Millisecond)
	}
	srv.Publish(events.Trigger{TriggerID: "c-1:at_risk:3", CustomerID: "c-1", Type: events.TriggerType("at_risk")})
	for i, r := range []*bufio.Reader{r1, r2} {
		ev, _ := r.ReadString('\n')
		data, _ := r.ReadString('\n')
		if ev != "event: at_risk\n" || !strings.Contains(data, `"c-1:at_risk:3"`) {
			t.Fatalf("client %d got %q %q", i, ev, data)
		}
	}
	close1()
	for srv.Subscribers() != 1 {
		if ctx.Err() != nil {
			t.Fatal("a disconnected client was never dropped")
		}
		srv.Publish(events.Trigger{Type: "noop"}) // lets the handler notice
		time.Sleep(time.Millisecond)
	}
}

func TestMetricsExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := serve.NewMetrics(reg)
	m.Processed(topology.TaskID{Subtopology: 0, Partition: 2}, topology.TaskStats{RecordsIn: 5, DeadLettered: 1})
	m.Committed(10*time.Millisecond, true)
	m.Restored("cl", 0, 10, 90)
	m.Restored("cl", 0, 30, 70)
	m.EndToEnd(20 * time.Millisecond)
	m.Lag("in", 1, 42)
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
		`weir_records_dead_lettered_total{partition="2",subtopology="0"} 1`,
		`weir_commit_seconds_count{outcome="committed"} 1`,
		`weir_restored_records_total{partition="0",topic="cl"} 30`,
		`weir_restore_remaining_records{partition="0",topic="cl"} 70`,
		`weir_end_to_end_seconds_count 1`,
		`weir_consumer_lag{partition="1",topic="in"} 42`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
