package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// TestPprofFlagMistakes: a bad -pprof address stops weir run at start-up
// (before the registry or Kafka: both addresses are dead ports) with a
// message naming the flag and what to change.
func TestPprofFlagMistakes(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct{ addr, want string }{
		{"6060", "want HOST:PORT"},
		{"127.0.0.1:sixty", `port "sixty" is not a number`},
		{"127.0.0.1:70000", "from 0 to 65535"},
		{taken.Addr().String(), "choose a free port"},
	} {
		err := runWorker(context.Background(), []string{"-brokers", "127.0.0.1:1", "-registry", "http://127.0.0.1:1", "-pprof", tc.addr})
		if err == nil || !strings.Contains(err.Error(), "-pprof") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("-pprof %s: error %v, want one naming -pprof and %q", tc.addr, err, tc.want)
		}
	}
}

// TestPprofServes: the listener serves the pprof index and a CPU profile
// that parses, and nothing of the worker's API.
func TestPprofServes(t *testing.T) {
	ps, err := listenPprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ps.start()
	defer ps.stop()
	base := "http://" + ps.ln.Addr().String()
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	if code, b := get("/debug/pprof/"); code != 200 || !strings.Contains(string(b), "goroutine") {
		t.Fatalf("index: %d %.200s", code, b)
	}
	code, b := get("/debug/pprof/profile?seconds=1")
	if code != 200 {
		t.Fatalf("profile: %d %.200s", code, b)
	}
	p, err := profile.ParseData(b)
	if err != nil {
		t.Fatalf("the CPU profile does not parse: %v", err)
	}
	if len(p.SampleType) == 0 || p.SampleType[len(p.SampleType)-1].Type != "cpu" {
		t.Fatalf("sample types %v, want cpu last", p.SampleType)
	}
	if code, _ := get("/v1/profiles/c1"); code != http.StatusNotFound {
		t.Fatalf("the pprof listener answered the API path with %d, want 404", code)
	}
}
