package journey

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/events"
)

// proxy relays the workers' event streams to the pages. Each connection
// goes to a running worker, taken in turn; when that worker stops, the
// stream ends and the browser's EventSource reconnects (after retryMs,
// with Last-Event-ID), reaching one of the others. A page thus follows
// failover the way any client of the worker API would.
type proxy struct {
	workers Workers
	token   string
	client  *http.Client
	log     *zap.Logger
	next    atomic.Uint64
}

// retryMs is the reconnection delay the pages' EventSources are told.
const retryMs = 500

func newProxy(ws Workers, token string, log *zap.Logger) *proxy {
	// No overall timeout: the responses are streams. Dialing and the
	// response headers are bounded, so a dead worker is skipped quickly.
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		ResponseHeaderTimeout: 5 * time.Second,
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &proxy{workers: ws, token: token, client: &http.Client{Transport: tr}, log: log}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name, id string
	data     []byte
}

// profiles relays GET /v1/profiles/{id}/stream.
func (p *proxy) profiles(w http.ResponseWriter, r *http.Request) {
	path := "/v1/profiles/" + url.PathEscape(r.PathValue("id")) + "/stream"
	p.relay(w, r, path, func(e sseEvent) (sseEvent, bool) { return e, e.name == "profile" })
}

// triggers relays GET /v1/triggers: the customer's own with
// ?customer=id, else everyone's (the page's live feed).
func (p *proxy) triggers(w http.ResponseWriter, r *http.Request) {
	customer, one := r.URL.Query()["customer"]
	p.relay(w, r, "/v1/triggers", func(e sseEvent) (sseEvent, bool) {
		var t events.Trigger
		if e.name == "" || json.Unmarshal(e.data, &t) != nil || (one && t.CustomerID != customer[0]) {
			return e, false
		}
		return sseEvent{name: "trigger", data: e.data}, true
	})
}

// relay answers 200 at once (an EventSource gives up on any other
// status, while a stream that ends is retried), names the worker it
// reached in a "worker" event, and copies the events keep lets through.
func (p *proxy) relay(w http.ResponseWriter, r *http.Request, path string, keep func(sseEvent) (sseEvent, bool)) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: %d\n\n", retryMs)
	fl.Flush()
	resp, wk, err := p.open(r.Context(), path, r.Header.Get("Last-Event-ID"))
	if err != nil {
		fmt.Fprintf(w, ": no worker answered: %s\n\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	defer resp.Body.Close()
	b, _ := json.Marshal(map[string]any{"worker": wk.Name, "index": wk.Index})
	fmt.Fprintf(w, "event: worker\ndata: %s\n\n", b)
	fl.Flush()
	err = readEvents(resp.Body, func(e sseEvent) error {
		e, ok := keep(e)
		if !ok {
			return nil
		}
		if err := writeEvent(w, e); err != nil {
			return err
		}
		fl.Flush()
		return nil
	})
	if err != nil && r.Context().Err() == nil {
		p.log.Debug("journey: stream from a worker ended", zap.String("worker", wk.Name), zap.Error(err))
	}
}

// open connects to the first running worker, starting with the next in
// turn, that answers 200.
func (p *proxy) open(ctx context.Context, path, lastID string) (*http.Response, Worker, error) {
	ws := p.workers.List()
	start := int(p.next.Add(1))
	var errs []string
	for k := range ws {
		wk := ws[(start+k)%len(ws)]
		if !wk.Running {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+wk.Addr+path, nil)
		if err != nil {
			return nil, Worker{}, err
		}
		if p.token != "" {
			req.Header.Set("Authorization", "Bearer "+p.token)
		}
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := p.client.Do(req)
		if err == nil && resp.StatusCode == http.StatusOK {
			return resp, wk, nil
		}
		if err == nil {
			err = fmt.Errorf("status %d", resp.StatusCode)
			resp.Body.Close()
		}
		errs = append(errs, wk.Name+": "+err.Error())
	}
	if len(errs) == 0 {
		return nil, Worker{}, fmt.Errorf("no worker is running")
	}
	return nil, Worker{}, fmt.Errorf("%s", strings.Join(errs, "; "))
}

// readEvents parses a text/event-stream, calling fn with each event.
// Comments are dropped.
func readEvents(r io.Reader, fn func(sseEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var e sseEvent
	var data [][]byte
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if data != nil {
				e.data = bytes.Join(data, []byte("\n"))
				if err := fn(e); err != nil {
					return err
				}
			}
			e, data = sseEvent{}, nil
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			e.name = string(value)
		case "id":
			e.id = string(value)
		case "data":
			data = append(data, append([]byte(nil), value...))
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

func writeEvent(w io.Writer, e sseEvent) error {
	var b bytes.Buffer
	if e.name != "" {
		fmt.Fprintf(&b, "event: %s\n", e.name)
	}
	if e.id != "" {
		fmt.Fprintf(&b, "id: %s\n", e.id)
	}
	for _, line := range bytes.Split(e.data, []byte("\n")) {
		fmt.Fprintf(&b, "data: %s\n", line)
	}
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	return err
}
