package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/internal/testcerts"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/serve"
)

// certFiles writes a CA and a worker certificate (server and client
// usage, for 127.0.0.1) into a temporary directory.
func certFiles(t *testing.T) (dir string, ca *testcerts.CA, worker testcerts.Leaf) {
	dir = t.TempDir()
	ca = testcerts.NewCA(t, "weir-test")
	worker = ca.Issue(t, "worker")
	serverOnly := ca.Issue(t, "server-only", x509.ExtKeyUsageServerAuth)
	testcerts.WriteFiles(t, dir, ca, map[string]testcerts.Leaf{"worker": worker, "server-only": serverOnly})
	if err := os.WriteFile(filepath.Join(dir, "tokens"), []byte("# rotated 2026-12\nnew-token\n\nold-token # until Friday\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("# nothing yet\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, ca, worker
}

// parseHTTP registers the HTTP flags on a fresh flag set, applies env
// and args, and runs setup.
func parseHTTP(env map[string]string, args ...string) (*httpSetup, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var hf httpFlags
	hf.register(fs)
	getenv := func(k string) string { return env[k] }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := applyConfig(fs, getenv); err != nil {
		return nil, err
	}
	return hf.setup(getenv, zap.NewNop())
}

// TestHTTPConfigMistakes: each mistake stops start-up with a message
// naming what to change.
func TestHTTPConfigMistakes(t *testing.T) {
	dir, _, _ := certFiles(t)
	f := func(name string) string { return filepath.Join(dir, name) }
	tls := []string{"-http-tls-cert", f("worker.pem"), "-http-tls-key", f("worker-key.pem")}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"cert without key", nil, []string{"-http", ":8080", "-advertise", "w1:8080", "-http-token-file", f("tokens"), "-http-tls-cert", f("worker.pem")}, "-http-tls-cert and -http-tls-key go together"},
		{"key without cert", nil, []string{"-http", ":8080", "-advertise", "w1:8080", "-http-token-file", f("tokens"), "-http-tls-key", f("worker-key.pem")}, "-http-tls-cert and -http-tls-key go together"},
		{"unreadable token file", nil, []string{"-http", "127.0.0.1:8080", "-http-token-file", f("missing")}, "-http-token-file: open"},
		{"empty token file", nil, []string{"-http", "127.0.0.1:8080", "-http-token-file", f("empty")}, "holds no tokens"},
		{"tls without advertise", nil, append([]string{"-http", ":8443", "-http-token-file", f("tokens")}, tls...), "-advertise HOST:PORT is required with -http-tls-cert"},
		{"all interfaces without advertise", nil, []string{"-http", ":8080", "-http-token-file", f("tokens")}, "give -advertise HOST:PORT"},
		{"bad advertise", nil, []string{"-http", ":8080", "-advertise", "w1", "-http-token-file", f("tokens")}, `-advertise "w1": want HOST:PORT`},
		{"no credentials", nil, []string{"-http", "127.0.0.1:8080"}, "give -http-token-file, WEIR_HTTP_TOKENS or -http-client-ca"},
		{"client CA without TLS", nil, []string{"-http", "127.0.0.1:8080", "-http-client-ca", f("ca.pem")}, "client certificates need TLS"},
		{"client CA not PEM", nil, append([]string{"-http", ":8443", "-advertise", "w1:8443", "-http-client-ca", f("tokens")}, tls...), "no PEM certificate"},
		{"advertise without http", nil, []string{"-advertise", "w1:8080"}, "give -http ADDR too"},
		{"file and env tokens", map[string]string{envTokens: "t1"}, []string{"-http", "127.0.0.1:8080", "-http-token-file", f("tokens")}, "not both"},
		{"no-auth with tokens", map[string]string{envTokens: "t1"}, []string{"-http", "127.0.0.1:8080", "-http-no-auth"}, "contradicts"},
		{"bad env bool", map[string]string{"WEIR_HTTP_NO_AUTH": "maybe"}, nil, "WEIR_HTTP_NO_AUTH"},
		{"serving cert cannot forward", nil, []string{"-http", ":8443", "-advertise", "w1:8443", "-http-client-ca", f("ca.pem"), "-http-tls-cert", f("server-only.pem"), "-http-tls-key", f("server-only-key.pem")}, "lacks clientAuth"},
		{"key does not match", nil, []string{"-http", ":8443", "-advertise", "w1:8443", "-http-token-file", f("tokens"), "-http-tls-cert", f("worker.pem"), "-http-tls-key", f("ca.pem")}, "-http-tls-cert/-http-tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseHTTP(tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}

	// What passes: tokens from the environment, flags from WEIR_* variables.
	s, err := parseHTTP(map[string]string{envTokens: "a\nb", "WEIR_HTTP": "127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if s.advertise != "127.0.0.1:8080" || !slices.Equal(s.opts.Auth.Tokens, []string{"a", "b"}) || s.opts.ForwardToken != "a" || s.tls != nil {
		t.Fatalf("setup from the environment: %+v auth %+v", s, s.opts.Auth)
	}
	s, err = parseHTTP(nil, append([]string{"-http", ":8443", "-advertise", "w1:8443", "-http-token-file", f("tokens"), "-http-client-ca", f("ca.pem"), "-http-peer-ca", f("ca.pem")}, tls...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.opts.Auth.Tokens, []string{"new-token", "old-token"}) || !s.opts.Auth.ClientCerts || s.opts.ForwardScheme != "https" || s.tls.ClientCAs == nil {
		t.Fatalf("setup with TLS: %+v auth %+v", s, s.opts.Auth)
	}
	if none, err := parseHTTP(nil); none != nil || err != nil {
		t.Fatalf("no flags: %v %v, want no HTTP and no error", none, err)
	}
}

type oneProfile struct{}

func (oneProfile) Get(_ string, key []byte) ([]byte, bool, error) {
	return []byte(`{"profile":{"customer_id":"` + string(key) + `","known":true,"version":1}}`), true, nil
}
func (oneProfile) Ready() bool { return true }

// TestTokenFileReload: a changed token file applies without a restart; a
// broken one is refused and the tokens in force stay.
func TestTokenFileReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	write := func(s string) {
		// Rename over the file, as a secret volume update does.
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write("first\n")
	hs, err := parseHTTP(nil, "-http", "127.0.0.1:0", "-advertise", "127.0.0.1:1", "-http-token-file", file, "-http-token-reload", "10ms")
	if err != nil {
		t.Fatal(err)
	}
	api := serve.New(oneProfile{}, hs.opts)
	srv := httptest.NewServer(api)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	core, logs := observer.New(zap.InfoLevel)
	go hs.reloadTokens(ctx, api, zap.New(core))
	status := func(token string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/profiles/c-1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// waitFor polls until token gets code: the reload runs on a ticker.
	waitFor := func(token string, code int) {
		t.Helper()
		for status(token) != code {
			if ctx.Err() != nil {
				t.Fatalf("token %q never got %d", token, code)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if status("first") != 200 || status("second") != 401 {
		t.Fatal("initial tokens not in force")
	}
	write("first\nsecond\n")
	waitFor("second", 200)
	write("second\n")
	waitFor("first", 401)
	// A broken file (no tokens, a token with a space) is refused, once
	// each, and "second" stays in force; a later good file still applies.
	for i, broken := range []string{"# emptied by mistake\n", "bad token\n"} {
		write(broken)
		for logs.FilterMessage("http: token file changed but is not usable; keeping the tokens in force").Len() <= i {
			if ctx.Err() != nil {
				t.Fatalf("broken token file %q never refused", broken)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if status("second") != 200 {
			t.Fatalf("after broken file %q, the token in force was dropped", broken)
		}
	}
	write("third\n")
	waitFor("third", 200)
	if status("second") != 401 {
		t.Fatal("second still valid after the file dropped it")
	}
}

// freeAddr returns a loopback address nothing listens on (just now).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunServesProfilesFromEveryWorker runs two `weir run -http` processes
// over HTTPS with tokens and client certificates, on preloaded profile
// input, and checks that every customer is answered 200 by both with the
// same profile (one of them forwarding to the owner), that requests
// without credentials get 401 and that health stays open.
func TestRunServesProfilesFromEveryWorker(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildWeir(ctx, t)
	certs, ca, worker := certFiles(t)
	pc := newProfilesCluster(ctx, t, 6)
	c, app, prefix, tp, serdes := pc.c, pc.app, pc.prefix, pc.tp, pc.serdes
	// Register the output schemas here, so the workers need not.
	if _, err := serdes.Update.Encode(tp.Updates, events.ProfileUpdate{}); err != nil {
		t.Fatal(err)
	}
	if _, err := serdes.Trigger.Encode(tp.Triggers, events.Trigger{Type: events.AtRisk}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{} // customer -> versions (valid events)
	var recs []*kgo.Record
	for _, r := range profile.Generate(seed, 1500, profile.GenOptions{Customers: 40}) {
		k, v, err := r.Encode(serdes)
		if err != nil {
			t.Fatal(err)
		}
		if r.IsEvent() {
			want[r.Key]++
		}
		recs = append(recs, &kgo.Record{Topic: prefix + r.Topic, Key: k, Value: v, Timestamp: r.Time})
	}
	if err := demo.Produce(ctx, c.Brokers, recs); err != nil {
		t.Fatal(err)
	}

	tokenFile := filepath.Join(t.TempDir(), "tokens")
	writeTokens := func(s string) {
		tmp := tokenFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, tokenFile); err != nil {
			t.Fatal(err)
		}
	}
	writeTokens("engine-token\nworker-token\n")
	addrs := []string{freeAddr(t), freeAddr(t)}
	type proc struct {
		cmd    *exec.Cmd
		exited chan struct{} // closed when it exits; err is then set
		err    error
	}
	var procs []*proc
	// exited fails the test when a worker is gone before its time.
	exited := func() {
		for i, p := range procs {
			select {
			case <-p.exited:
				t.Fatalf("worker %d exited early: %v", i, p.err)
			default:
			}
		}
	}
	for i, addr := range addrs {
		name := fmt.Sprintf("w%d", i)
		logFile := filepath.Join(t.TempDir(), name+".log")
		lf, err := os.Create(logFile)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "-pipeline", "profiles",
			"-brokers", strings.Join(c.Brokers, ","), "-registry", c.Registry,
			"-app", app, "-topic-prefix", prefix, "-state-dir", t.TempDir(), "-instance", name,
			"-session-timeout", "6s",
			"-http", addr, "-advertise", addr,
			"-http-tls-cert", filepath.Join(certs, "worker.pem"), "-http-tls-key", filepath.Join(certs, "worker-key.pem"),
			"-http-client-ca", filepath.Join(certs, "ca.pem"), "-http-peer-ca", filepath.Join(certs, "ca.pem"))
		// Flags from the environment, as a container would set them.
		cmd.Env = append(os.Environ(), "WEIR_HTTP_TOKEN_FILE="+tokenFile, "WEIR_HTTP_TOKEN_RELOAD=50ms")
		cmd.Stdout, cmd.Stderr = lf, lf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, exited: make(chan struct{})}
		go func() { p.err = cmd.Wait(); close(p.exited) }()
		procs = append(procs, p)
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-p.exited
			lf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logFile)
				t.Logf("%s log (tail):\n%s", name, b[max(0, len(b)-4000):])
			}
		})
	}

	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	withCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{worker.TLS}}}}
	get := func(cl *http.Client, addr, path, token string) (int, http.Header, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+path, nil)
		if err != nil {
			return 0, nil, nil, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return 0, nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b, err
	}

	customers := make([]string, 0, len(want))
	for c := range want {
		customers = append(customers, c)
	}
	slices.Sort(customers)
	// Every customer from both workers: 200 at the final version.
	forwarded := map[string]int{}
	forwardedID := map[string]string{} // a customer each worker forwards
	for _, id := range customers {
		var bodies [2][]byte
		for i, addr := range addrs {
			for {
				code, h, b, err := get(plain, addr, "/v1/profiles/"+id, "engine-token")
				var p events.ProfileUpdate
				if err == nil && code == 200 && json.Unmarshal(b, &p) == nil && p.Version == want[id] {
					bodies[i] = b
					if h.Get("X-Weir-Served-By") != addr {
						forwarded[addr]++
						forwardedID[addr] = id
					}
					break
				}
				if err == nil && code == 200 && p.Version > want[id] {
					t.Fatalf("%s: %s at version %d, only %d events were sent", addr, id, p.Version, want[id])
				}
				exited()
				if ctx.Err() != nil {
					t.Fatalf("%s never served %s at version %d: status %d body %.200s err %v", addr, id, want[id], code, b, err)
				}
				time.Sleep(50 * time.Millisecond) // poll: state follows commits
			}
		}
		if !bytes.Equal(bodies[0], bodies[1]) {
			t.Fatalf("%s: workers differ:\n%s\n%s", id, bodies[0], bodies[1])
		}
	}
	// Each worker owns some customers and forwarded the others.
	for _, addr := range addrs {
		if forwarded[addr] == 0 || forwarded[addr] == len(customers) {
			t.Fatalf("worker %s forwarded %d of %d customers; want some but not all (forwarding untested)", addr, forwarded[addr], len(customers))
		}
	}

	for i, addr := range addrs {
		id := customers[i]
		if code, h, _, err := get(plain, addr, "/v1/profiles/"+id, ""); err != nil || code != 401 || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s without credentials: status %d err %v; want 401 with WWW-Authenticate", addr, code, err)
		}
		if code, _, _, err := get(plain, addr, "/v1/profiles/"+id, "wrong"); err != nil || code != 401 {
			t.Fatalf("%s with a wrong token: status %d err %v; want 401", addr, code, err)
		}
		if code, _, _, err := get(withCert, addr, "/v1/profiles/"+id, ""); err != nil || code != 200 {
			t.Fatalf("%s with a client certificate: status %d err %v; want 200", addr, code, err)
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, _, _, err := get(plain, addr, p, ""); err != nil || code != 200 {
				t.Fatalf("%s%s: status %d err %v; want 200 without credentials", addr, p, code, err)
			}
		}
		_, _, m, err := get(plain, addr, "/metrics", "")
		if err != nil || !strings.Contains(string(m), `weir_http_unauthorized_total{reason="missing"} 1`) || !strings.Contains(string(m), "weir_records_in_total") {
			t.Fatalf("%s/metrics: err %v; want the 401 counted and the worker's metrics:\n%.2000s", addr, err, m)
		}
		if code, _, _, err := get(&http.Client{Timeout: 5 * time.Second}, addr, "/healthz", ""); err == nil && code == 200 {
			t.Fatalf("%s answered a client that does not trust its CA", addr)
		}
	}

	// Triggers: each worker streams every committed trigger of the topic.
	// A marker is produced until both streams have delivered one (the
	// workers start following the topic at its end when they start).
	got := make(chan string, 16)
	for _, addr := range addrs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/v1/triggers", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer engine-token")
		stream := &http.Client{Transport: plain.Transport} // no timeout: a stream
		resp, err := stream.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s/v1/triggers: %v %v", addr, resp, err)
		}
		defer resp.Body.Close()
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(data, "marker-") {
					got <- addr
					return
				}
			}
		}()
	}
	producer := c.Client()
	seen := map[string]bool{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for n := 0; len(seen) < len(addrs); n++ {
		v, err := serdes.Trigger.Encode(tp.Triggers, events.Trigger{TriggerID: fmt.Sprintf("marker-%d", n), CustomerID: customers[0], Type: events.AtRisk, FiredAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		if err := producer.ProduceSync(ctx, &kgo.Record{Topic: tp.Triggers, Key: []byte(customers[0]), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		select {
		case a := <-got:
			seen[a] = true
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("trigger streams delivered a produced trigger on %v only", seen)
		}
	}

	// Token rotation without a restart, in two steps: add the new token,
	// then drop the old ones (forwarding presents the first token).
	waitStatus := func(addr, id, token string, want int) {
		t.Helper()
		for {
			code, _, b, err := get(plain, addr, "/v1/profiles/"+id, token)
			if err == nil && code == want {
				return
			}
			exited()
			if ctx.Err() != nil {
				t.Fatalf("%s %s with token %q: status %d body %.200s err %v; want %d", addr, id, token, code, b, err, want)
			}
			time.Sleep(50 * time.Millisecond) // poll: the file is re-read every 50ms
		}
	}
	writeTokens("engine-token\nworker-token\nrotated-token\n")
	for _, addr := range addrs {
		waitStatus(addr, forwardedID[addr], "rotated-token", 200)
	}
	writeTokens("rotated-token\n")
	for _, addr := range addrs {
		waitStatus(addr, forwardedID[addr], "engine-token", 401)
	}
	for _, addr := range addrs { // forwarding now presents the new token
		waitStatus(addr, forwardedID[addr], "rotated-token", 200)
	}

	// SIGTERM stops each worker cleanly, open trigger streams or not.
	exited()
	for i, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.exited:
		case <-ctx.Done():
			t.Fatalf("worker %d still running after SIGTERM", i)
		}
		if p.err != nil {
			t.Fatalf("worker %d after SIGTERM: %v", i, p.err)
		}
	}
}
