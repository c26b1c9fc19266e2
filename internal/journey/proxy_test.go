package journey

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
)

// fakeWorkers are httptest servers standing in for workers' APIs.
type fakeWorkers struct {
	mu      sync.Mutex
	srvs    []*httptest.Server
	stopped map[int]bool
}

func (f *fakeWorkers) List() []Worker {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Worker
	for i, s := range f.srvs {
		out = append(out, Worker{Name: fmt.Sprintf("w%d", i), Index: i, Addr: s.Listener.Addr().String(), Running: !f.stopped[i]})
	}
	return out
}

func (f *fakeWorkers) Stop(i int) error {
	f.mu.Lock()
	f.stopped[i] = true
	s := f.srvs[i]
	f.mu.Unlock()
	s.CloseClientConnections()
	s.Close()
	return nil
}

// workerAPI serves a profile stream from version from on, as a worker
// does, checking the token and honouring Last-Event-ID.
func workerAPI(t *testing.T, token string, updates <-chan int64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/profiles/{id}/stream", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var last int64
		fmt.Sscan(r.Header.Get("Last-Event-ID"), &last)
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, ": subscribed\n\n")
		fl.Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case v := <-updates:
				if v <= last {
					continue
				}
				b, _ := json.Marshal(events.ProfileUpdate{CustomerID: r.PathValue("id"), Version: v, Known: true})
				fmt.Fprintf(w, "event: profile\nid: %d\ndata: %s\n\n", v, b)
				fl.Flush()
			}
		}
	})
	return mux
}

// A page's profile stream names the worker serving it and relays its
// updates; when that worker goes away the stream ends, and the
// reconnection (with Last-Event-ID, as an EventSource sends) reaches the
// other worker and resumes after the last version.
func TestProfileStreamMovesToAnotherWorker(t *testing.T) {
	const token = "tok"
	ups := []chan int64{make(chan int64, 8), make(chan int64, 8)}
	f := &fakeWorkers{stopped: map[int]bool{}}
	for i := range ups {
		f.srvs = append(f.srvs, httptest.NewServer(workerAPI(t, token, ups[i])))
	}
	defer func() {
		for _, s := range f.srvs {
			s.Close()
		}
	}()
	p := newProxy(f, token, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/profiles/{id}/stream", p.profiles)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	connect := func(lastID string) (chan sseEvent, func()) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/profiles/c7/stream", nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connect: %v %v", resp, err)
		}
		ch := make(chan sseEvent, 8)
		go func() {
			defer close(ch)
			readEvents(bufio.NewReader(resp.Body), func(e sseEvent) error { ch <- e; return nil })
		}()
		return ch, func() { resp.Body.Close() }
	}
	next := func(ch chan sseEvent) sseEvent {
		select {
		case e, ok := <-ch:
			if !ok {
				return sseEvent{name: "<end>"}
			}
			return e
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return sseEvent{}
	}
	workerOf := func(e sseEvent) int {
		var w struct{ Index int }
		if e.name != "worker" || json.Unmarshal(e.data, &w) != nil {
			t.Fatalf("first event %q %s, want the worker", e.name, e.data)
		}
		return w.Index
	}

	ch, closeFirst := connect("")
	defer closeFirst()
	first := workerOf(next(ch))
	ups[first] <- 1
	ups[first] <- 2
	for _, want := range []string{"1", "2"} {
		if e := next(ch); e.name != "profile" || e.id != want {
			t.Fatalf("event %q id %q, want profile %s", e.name, e.id, want)
		}
	}
	f.Stop(first)
	if e := next(ch); e.name != "<end>" {
		t.Fatalf("after the worker stopped: %q, want the stream to end", e.name)
	}

	ch2, closeSecond := connect("2")
	defer closeSecond()
	other := workerOf(next(ch2))
	if other == first {
		t.Fatalf("reconnected to the stopped worker %d", first)
	}
	ups[other] <- 2 // already seen: the worker skips it after Last-Event-ID
	ups[other] <- 3
	if e := next(ch2); e.name != "profile" || e.id != "3" {
		t.Fatalf("after failover: event %q id %q, want profile 3", e.name, e.id)
	}
}

// The trigger stream keeps the customer's own with ?customer=, and
// everyone's without, renamed to "trigger" events.
func TestTriggerStreamFiltersByCustomer(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/triggers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, tr := range []events.Trigger{{TriggerID: "a", CustomerID: "c1", Type: events.AtRisk}, {TriggerID: "b", CustomerID: "c2", Type: events.HighIntent}} {
			b, _ := json.Marshal(tr)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", tr.Type, b)
		}
	})
	f := &fakeWorkers{stopped: map[int]bool{}, srvs: []*httptest.Server{httptest.NewServer(mux)}}
	defer f.srvs[0].Close()
	p := newProxy(f, "", nil)
	for _, tc := range []struct {
		query string
		want  []string
	}{{"?customer=c1", []string{"a"}}, {"", []string{"a", "b"}}} {
		rec := httptest.NewRecorder()
		p.triggers(rec, httptest.NewRequest(http.MethodGet, "/api/triggers/stream"+tc.query, nil))
		var got []string
		readEvents(rec.Body, func(e sseEvent) error {
			var tr events.Trigger
			switch {
			case e.name == "worker":
			case e.name != "trigger" || json.Unmarshal(e.data, &tr) != nil:
				t.Errorf("event %q %s", e.name, e.data)
			default:
				got = append(got, tr.TriggerID)
			}
			return nil
		})
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: triggers %v, want %v", tc.query, got, tc.want)
		}
	}
}
