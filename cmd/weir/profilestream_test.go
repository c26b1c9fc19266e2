package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/profile"
)

// TestRunStreamsAProfile runs `weir run -http`, subscribes to one
// customer's /v1/profiles/{id}/stream, produces that customer's events,
// and reads the stream until the version equals the number of events
// produced; versions strictly increase. A reconnect with Last-Event-ID
// gets only what is newer.
func TestRunStreamsAProfile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildWeir(ctx, t)
	pc := newProfilesCluster(ctx, t, 3)
	c, app, prefix, serdes := pc.c, pc.app, pc.prefix, pc.serdes

	const id = "c-00001"
	encode := func(r profile.Record) *kgo.Record {
		k, v, err := r.Encode(serdes)
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: prefix + r.Topic, Key: k, Value: v, Timestamp: r.Time}
	}
	var tables, evs []*kgo.Record
	for _, r := range profile.Generate(11, 400, profile.GenOptions{Customers: 3}) {
		switch {
		case !r.IsEvent():
			tables = append(tables, encode(r))
		case r.Key == id:
			evs = append(evs, encode(r))
		}
	}
	if len(evs) < 20 {
		t.Fatalf("only %d events of %s generated", len(evs), id)
	}
	extra := evs[len(evs)-1] // produced after a reconnect
	evs = evs[:len(evs)-1]
	if err := demo.Produce(ctx, c.Brokers, tables); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	var logs strings.Builder
	cmd := exec.Command(bin, "run", "-pipeline", "profiles", "-auto-register",
		"-brokers", strings.Join(c.Brokers, ","), "-registry", c.Registry,
		"-app", app, "-topic-prefix", prefix, "-state-dir", t.TempDir(),
		"-commit-interval", "100ms", "-session-timeout", "6s",
		"-http", addr, "-http-no-auth")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("weir run output (tail):\n%s", tail(logs.String(), 4000))
		}
	})

	// open connects to the stream (retrying while the process starts)
	// and sends the versions of its profile events to a channel, closed
	// when the stream ends.
	open := func(header http.Header) <-chan int64 {
		t.Helper()
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/profiles/"+id+"/stream", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil && resp.StatusCode == 200 && resp.Header.Get("Content-Type") == "text/event-stream" {
				versions := make(chan int64, 1024)
				sc := bufio.NewScanner(resp.Body)
				// The subscription comment: the client is registered.
				if !sc.Scan() || sc.Text() != ": subscribed" {
					t.Fatalf("first line %q, %v; want the subscription comment", sc.Text(), sc.Err())
				}
				t.Cleanup(func() { resp.Body.Close() })
				go func() {
					defer close(versions)
					var idLine string
					for sc.Scan() {
						line := sc.Text()
						if v, ok := strings.CutPrefix(line, "id: "); ok {
							idLine = v
						}
						if data, ok := strings.CutPrefix(line, "data: "); ok {
							var p events.ProfileUpdate
							if err := json.Unmarshal([]byte(data), &p); err != nil || p.CustomerID != id || strconv.FormatInt(p.Version, 10) != idLine {
								t.Errorf("event id %s data %s: want %s's profile with its version as id (%v)", idLine, data, id, err)
								return
							}
							versions <- p.Version
						}
					}
				}()
				return versions
			}
			if resp != nil {
				resp.Body.Close()
			}
			select {
			case err := <-exited:
				t.Fatalf("weir run exited: %v", err)
			case <-ctx.Done():
				t.Fatalf("never connected to the stream: %v", err)
			case <-time.After(100 * time.Millisecond): // poll: the process is starting
			}
		}
	}
	versions := open(nil)

	producer := c.Client()
	produce := func(rs ...*kgo.Record) {
		if err := producer.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	last := int64(-1)
	next := func(timeout <-chan time.Time) (int64, bool) {
		t.Helper()
		select {
		case v, ok := <-versions:
			if !ok {
				t.Fatalf("stream ended after version %d", last)
			}
			if v <= last {
				t.Fatalf("version %d after %d: versions must strictly increase", v, last)
			}
			last = v
			return v, true
		case err := <-exited:
			t.Fatalf("weir run exited: %v", err)
		case <-ctx.Done():
			t.Fatalf("stream stuck at version %d of %d", last, len(evs))
		case <-timeout:
		}
		return 0, false
	}
	// The worker follows the updates topic from its end once it runs:
	// produce one event at a time until the stream delivers an update
	// (the initial event, sent before any was produced, is at most the
	// default profile, version 0), then the rest at once.
	sent := 0
	for last < 1 {
		if sent == len(evs) {
			t.Fatalf("all %d events produced, stream at version %d", sent, last)
		}
		produce(evs[sent])
		sent++
		tick := time.After(500 * time.Millisecond)
		for last < 1 {
			if _, ok := next(tick); !ok {
				break
			}
		}
	}
	produce(evs[sent:]...)
	for last < int64(len(evs)) {
		next(nil)
	}
	t.Logf("stream reached version %d (%d events)", last, len(evs))

	// Reconnecting with the last version seen resumes after it: one more
	// event, and the first event is its version.
	versions = open(http.Header{"Last-Event-Id": {strconv.FormatInt(last, 10)}})
	produce(extra)
	want := last + 1
	if v, _ := next(nil); v != want {
		t.Fatalf("after reconnecting at version %d: first event version %d, want %d", want-1, v, want)
	}
}
