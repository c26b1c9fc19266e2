package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/serve"
)

// sseFrame is one server-sent event or comment: the lines before a blank one.
type sseFrame struct {
	comment, event, id, data string
}

func readFrame(t *testing.T, r *bufio.Reader) sseFrame {
	t.Helper()
	var f sseFrame
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended (%v) in frame %+v, partial line %q", err, f, line)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			return f
		case strings.HasPrefix(line, ":"):
			f.comment = strings.TrimSpace(strings.TrimPrefix(line, ":"))
		case strings.HasPrefix(line, "event: "):
			f.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			f.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			f.data = strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
}

// nextProfile reads the next profile event, skipping comments, and checks
// that its id is the version of its data.
func nextProfile(t *testing.T, r *bufio.Reader) (events.ProfileUpdate, string) {
	t.Helper()
	for {
		f := readFrame(t, r)
		if f.comment != "" && f.event == "" {
			continue
		}
		var p events.ProfileUpdate
		if err := json.Unmarshal([]byte(f.data), &p); err != nil || f.event != "profile" {
			t.Fatalf("frame %+v: want a profile event: %v", f, err)
		}
		if f.id != strconv.FormatInt(p.Version, 10) {
			t.Fatalf("event id %q, version %d: the id must be the version", f.id, p.Version)
		}
		return p, f.data
	}
}

type profileStream struct {
	r    *bufio.Reader
	body io.ReadCloser
}

// openProfileStream connects to id's stream and reads the subscription
// comment: from then on the server has the client registered.
func openProfileStream(t *testing.T, ctx context.Context, base, id string, header http.Header) profileStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/profiles/"+id+"/stream", nil)
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
	t.Cleanup(func() { resp.Body.Close() })
	if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || ct != "text/event-stream" || cc != "no-store" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s stream: status %d Content-Type %q Cache-Control %q body %q", id, resp.StatusCode, ct, cc, b)
	}
	s := profileStream{r: bufio.NewReader(resp.Body), body: resp.Body}
	if f := readFrame(t, s.r); f.comment != "subscribed" || f.event != "" {
		t.Fatalf("first frame %+v; want the subscription comment", f)
	}
	return s
}

func upd(id string, v int64) events.ProfileUpdate {
	return events.ProfileUpdate{CustomerID: id, Known: true, Version: v, Segment: "s" + strconv.FormatInt(v, 10)}
}

func streamServer(t *testing.T, f serve.Backend, opts serve.Options) (*serve.Server, string, context.Context) {
	t.Helper()
	srv := serve.New(f, opts)
	s := httptest.NewServer(srv)
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return srv, s.URL, ctx
}

func wantVersion(t *testing.T, s profileStream, id string, v int64) {
	t.Helper()
	if p, _ := nextProfile(t, s.r); p.CustomerID != id || p.Version != v || p.Segment != upd(id, v).Segment {
		t.Fatalf("got %s version %d segment %q; want %s version %d", p.CustomerID, p.Version, p.Segment, id, v)
	}
}

// The stream starts with the profile GET answers, byte for byte the same
// JSON, then delivers updates in the order published.
func TestProfileStreamInitialThenUpdates(t *testing.T) {
	f := &fake{ready: true, mine: map[string][]byte{"c-1": stored(t, upd("c-1", 3)), "c-new": nil}}
	srv, base, ctx := streamServer(t, f, serve.Options{})
	s := openProfileStream(t, ctx, base, "c-1", nil)
	p, data := nextProfile(t, s.r)
	_, _, body := getRaw(t, base+"/v1/profiles/c-1", nil)
	if p.Version != 3 || data != string(bytes.TrimSpace(body)) {
		t.Fatalf("initial event version %d data %s; want GET's body %s", p.Version, data, body)
	}
	for v := int64(4); v <= 6; v++ {
		srv.PublishProfile(upd("c-1", v))
	}
	for v := int64(4); v <= 6; v++ {
		wantVersion(t, s, "c-1", v)
	}
	// A customer with no events starts with the default profile, version 0.
	s2 := openProfileStream(t, ctx, base, "c-new", nil)
	if p, _ := nextProfile(t, s2.r); p.Known || p.Version != 0 || p.CustomerID != "c-new" {
		t.Fatalf("initial event of a customer with no profile: %+v; want the default profile", p)
	}
	srv.PublishProfile(upd("c-new", 1))
	wantVersion(t, s2, "c-new", 1)
}

// Versions at or below the last sent, initial one included, are dropped.
func TestProfileStreamNeverGoesBack(t *testing.T) {
	f := &fake{ready: true, mine: map[string][]byte{"c-1": stored(t, upd("c-1", 5))}}
	srv, base, ctx := streamServer(t, f, serve.Options{})
	s := openProfileStream(t, ctx, base, "c-1", nil)
	wantVersion(t, s, "c-1", 5)
	for _, v := range []int64{4, 5, 1, 7, 7, 6, 8} {
		srv.PublishProfile(upd("c-1", v))
	}
	wantVersion(t, s, "c-1", 7)
	wantVersion(t, s, "c-1", 8)
}

// A stream gets its customer's updates only, and publishing touches only
// that customer's streams.
func TestProfileStreamOtherCustomersNotSent(t *testing.T) {
	f := &fake{ready: true, mine: map[string][]byte{"c-1": nil, "c-2": nil}}
	srv, base, ctx := streamServer(t, f, serve.Options{})
	s1 := openProfileStream(t, ctx, base, "c-1", nil)
	s2 := openProfileStream(t, ctx, base, "c-2", nil)
	wantVersion0 := func(s profileStream, id string) {
		if p, _ := nextProfile(t, s.r); p.CustomerID != id || p.Version != 0 {
			t.Fatalf("initial %+v; want %s's default profile", p, id)
		}
	}
	wantVersion0(s1, "c-1")
	wantVersion0(s2, "c-2")
	srv.PublishProfile(upd("c-2", 1))
	srv.PublishProfile(upd("c-3", 1))
	srv.PublishProfile(upd("c-2", 2))
	srv.PublishProfile(upd("c-1", 1))
	wantVersion(t, s1, "c-1", 1) // not c-2's (nor c-3's) updates first
	wantVersion(t, s2, "c-2", 1)
	wantVersion(t, s2, "c-2", 2)
	if n := srv.ProfileSubscribers(); n != 2 {
		t.Fatalf("ProfileSubscribers = %d, want 2", n)
	}
	s1.body.Close()
	if err := srv.WaitProfileSubscribers(ctx, "c-1", 0); err != nil {
		t.Fatalf("closed stream not unsubscribed: %v", err)
	}
}

// Last-Event-ID resumes after the version the client has: the current
// profile is sent only when newer, and so are updates.
func TestProfileStreamLastEventID(t *testing.T) {
	f := &fake{ready: true, mine: map[string][]byte{"c-1": stored(t, upd("c-1", 5))}}
	srv, base, ctx := streamServer(t, f, serve.Options{})
	s := openProfileStream(t, ctx, base, "c-1", http.Header{"Last-Event-Id": {"6"}})
	for _, v := range []int64{5, 6, 7} {
		srv.PublishProfile(upd("c-1", v))
	}
	wantVersion(t, s, "c-1", 7)

	s = openProfileStream(t, ctx, base, "c-1", http.Header{"Last-Event-Id": {"3"}})
	wantVersion(t, s, "c-1", 5) // newer than what the client has

	code, _, body := getRaw(t, base+"/v1/profiles/c-1/stream", http.Header{"Last-Event-Id": {"x"}})
	if code != http.StatusBadRequest {
		t.Fatalf("Last-Event-ID x: status %d body %q; want 400", code, body)
	}
}

// The initial profile comes from the owner, as GET's does; without an
// owner (or while restoring) the stream starts without it; a backend
// failure refuses the stream as GET does.
func TestProfileStreamInitialFromOwnerOrNone(t *testing.T) {
	owner := &fake{ready: true, mine: map[string][]byte{"c-1": stored(t, upd("c-1", 9))}}
	so := httptest.NewServer(serve.New(owner, serve.Options{}))
	defer so.Close()
	f := &fake{ready: true, owner: strings.TrimPrefix(so.URL, "http://"), errs: map[string]error{
		"orphan":    &processor.NotOwnerError{},
		"restoring": processor.ErrNotReady,
		"broken":    errors.New("disk on fire"),
	}}
	srv, base, ctx := streamServer(t, f, serve.Options{})
	s := openProfileStream(t, ctx, base, "c-1", nil)
	wantVersion(t, s, "c-1", 9)
	for _, id := range []string{"orphan", "restoring"} {
		s := openProfileStream(t, ctx, base, id, nil)
		srv.PublishProfile(upd(id, 2))
		wantVersion(t, s, id, 2) // the first event: no initial one
	}
	if code, _, body := getRaw(t, base+"/v1/profiles/broken/stream", nil); code != 500 {
		t.Fatalf("broken backend: status %d body %q; want 500", code, body)
	}
}

// restoring is a backend whose profiles are unavailable (restoring)
// until restored; each Get is signalled on asked.
type restoring struct {
	mu       sync.Mutex
	profiles map[string][]byte
	asked    chan struct{}
}

func (b *restoring) Get(store string, key []byte) ([]byte, bool, error) {
	select {
	case b.asked <- struct{}{}:
	default:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.profiles == nil {
		return nil, false, processor.ErrNotReady
	}
	v, ok := b.profiles[string(key)]
	return v, ok, nil
}
func (b *restoring) Ready() bool { return true }

// A stream opened while the current profile is unavailable asks again
// until it has it: a customer with no new event still gets a profile.
func TestProfileStreamCurrentOnceRestored(t *testing.T) {
	b := &restoring{asked: make(chan struct{})}
	srv, base, ctx := streamServer(t, b, serve.Options{})
	s := openProfileStream(t, ctx, base, "c-1", nil)
	for range 2 { // the first ask and a retry
		select {
		case <-b.asked:
		case <-ctx.Done():
			t.Fatal("the stream did not ask for the current profile again")
		}
	}
	b.mu.Lock()
	b.profiles = map[string][]byte{"c-1": stored(t, upd("c-1", 5))}
	b.mu.Unlock()
	wantVersion(t, s, "c-1", 5)
	srv.PublishProfile(upd("c-1", 4)) // older than the current one: dropped
	srv.PublishProfile(upd("c-1", 6))
	wantVersion(t, s, "c-1", 6)
}

// A client that does not read is disconnected without blocking
// PublishProfile, and its stream ends cleanly.
func TestSlowProfileClientDropped(t *testing.T) {
	f := &fake{ready: true, mine: map[string][]byte{"c-1": nil}}
	srv, base, ctx := streamServer(t, f, serve.Options{ProfileBuffer: 1})
	s := openProfileStream(t, ctx, base, "c-1", nil)
	done := make(chan int64)
	go func() {
		v := int64(1)
		for srv.ProfileSubscribers() > 0 && v < 10_000_000 {
			p := upd("c-1", v)
			p.Country = strings.Repeat("x", 100)
			srv.PublishProfile(p)
			v++
		}
		done <- v
	}()
	select {
	case v := <-done:
		if srv.ProfileSubscribers() != 0 {
			t.Fatalf("slow client still subscribed after %d publishes", v)
		}
	case <-ctx.Done():
		t.Fatal("PublishProfile blocked on a slow client")
	}
	if _, err := io.Copy(io.Discard, s.r); err != nil {
		t.Fatalf("dropped client's stream: %v; want a clean end", err)
	}
}

func TestProfileStreamGuarded(t *testing.T) {
	f := &fake{ready: true, mine: map[string][]byte{"c-1": nil}}
	_, base, ctx := streamServer(t, f, serve.Options{Auth: &serve.Auth{Tokens: []string{"tok"}}})
	code, h, _ := getRaw(t, base+"/v1/profiles/c-1/stream", nil)
	if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("without a token: status %d; want 401 with WWW-Authenticate", code)
	}
	code, _, _ = getRaw(t, base+"/v1/profiles/c-1/stream", http.Header{"Authorization": {"Bearer wrong"}})
	if code != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: status %d; want 401", code)
	}
	s := openProfileStream(t, ctx, base, "c-1", http.Header{"Authorization": {"Bearer tok"}})
	if p, _ := nextProfile(t, s.r); p.CustomerID != "c-1" {
		t.Fatalf("with the token: %+v", p)
	}
}

func TestProfileStreamPing(t *testing.T) {
	f := &fake{ready: true, errs: map[string]error{"c-1": processor.ErrNotReady}}
	_, base, ctx := streamServer(t, f, serve.Options{PingInterval: 10 * time.Millisecond})
	s := openProfileStream(t, ctx, base, "c-1", nil)
	for range 2 {
		if fr := readFrame(t, s.r); fr.comment != "ping" || fr.event != "" || fr.data != "" {
			t.Fatalf("frame %+v on an idle stream; want a ping comment", fr)
		}
	}
}
