package serve_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/testcerts"
	"github.com/weirstream/weir/serve"
)

// do sends GET url with an optional bearer token through cl.
func do(t *testing.T, cl *http.Client, url, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// unauthorized scrapes base's /metrics for weir_http_unauthorized_total.
func unauthorized(t *testing.T, cl *http.Client, base, reason string) string {
	t.Helper()
	_, body := do(t, cl, base+"/metrics", "")
	sc := bufio.NewScanner(strings.NewReader(body))
	prefix := fmt.Sprintf(`weir_http_unauthorized_total{reason=%q} `, reason)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			return v
		}
	}
	t.Fatalf("no %s... line in /metrics:\n%s", prefix, body)
	return ""
}

func TestAuthBearerTokens(t *testing.T) {
	b := &fake{ready: true, mine: map[string][]byte{"c-1": stored(t, events.ProfileUpdate{CustomerID: "c-1", Known: true, Version: 3})}}
	api := serve.New(b, serve.Options{Auth: &serve.Auth{Tokens: []string{"old-token", "new-token"}}})
	srv := httptest.NewServer(api)
	defer srv.Close()
	cl := srv.Client()
	url := srv.URL + "/v1/profiles/c-1"

	resp, body := do(t, cl, url, "")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") || strings.Contains(body, "c-1") {
		t.Fatalf("no token: status %d WWW-Authenticate %q body %q; want 401 with a Bearer challenge and no profile", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	if got := unauthorized(t, cl, srv.URL, "missing"); got != "1" {
		t.Fatalf("after one request without a token, missing counter = %s, want 1", got)
	}
	for _, bad := range []string{"Bearer wrong", "Bearer old-token-and-more", "Basic b2xkLXRva2Vu", "Bearer "} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", bad)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("Authorization %q: status %d WWW-Authenticate %q; want 401 invalid_token", bad, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if got := unauthorized(t, cl, srv.URL, "invalid"); got != "4" {
		t.Fatalf("invalid counter = %s, want 4", got)
	}
	// Both tokens of a rotation are accepted.
	for _, tok := range []string{"old-token", "new-token"} {
		resp, body := do(t, cl, url, tok)
		var p events.ProfileUpdate
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &p) != nil || p.Version != 3 {
			t.Fatalf("token %s: status %d body %q; want 200 and the profile", tok, resp.StatusCode, body)
		}
	}
	// Triggers are guarded too; health, readiness and metrics stay open.
	if resp, _ := do(t, cl, srv.URL+"/v1/triggers", ""); resp.StatusCode != 401 {
		t.Fatalf("triggers without a token: status %d, want 401", resp.StatusCode)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp, _ := do(t, cl, srv.URL+p, ""); resp.StatusCode != 200 {
			t.Fatalf("%s without credentials: status %d, want 200", p, resp.StatusCode)
		}
	}
	if got := unauthorized(t, cl, srv.URL, "missing"); got != "2" {
		t.Fatalf("missing counter = %s, want 2 (profile and triggers)", got)
	}

	// Rotation without a restart: the old token stops working at once.
	if err := api.SetTokens([]string{"new-token"}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, cl, url, "old-token"); resp.StatusCode != 401 {
		t.Fatalf("removed token: status %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, cl, url, "new-token"); resp.StatusCode != 200 {
		t.Fatalf("kept token: status %d, want 200", resp.StatusCode)
	}
	if err := api.SetTokens(nil); err == nil {
		t.Fatal("SetTokens(nil) without client certificates passed; it would lock everyone out")
	}
	if err := serve.New(b, serve.Options{}).SetTokens([]string{"x"}); !errors.Is(err, serve.ErrOpen) {
		t.Fatalf("SetTokens on an open server: %v, want ErrOpen", err)
	}
}

func TestAuthValidate(t *testing.T) {
	for _, a := range []serve.Auth{{}, {Tokens: []string{""}}, {Tokens: []string{"a b"}}} {
		if err := a.Validate(); err == nil {
			t.Errorf("Auth %+v: Validate passed, want an error", a)
		}
	}
	if err := (&serve.Auth{Tokens: []string{"x"}}).Validate(); err != nil {
		t.Error(err)
	}
}

// tlsServer serves h over TLS with a certificate from serverCA, verifying
// client certificates from clientCA when given.
func tlsServer(t *testing.T, h http.Handler, leaf testcerts.Leaf, clientCA *testcerts.CA) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	if clientCA != nil {
		srv.TLS.ClientCAs = clientCA.Pool()
		srv.TLS.ClientAuth = tls.VerifyClientCertIfGiven
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func tlsClient(ca *testcerts.CA, cert *testcerts.Leaf) *http.Client {
	cfg := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// TestAuthClientCertificates: a client certificate verified against the
// client CA is enough; without one the TLS handshake succeeds (so probes
// and token clients connect) and the request gets 401; a certificate from
// another CA is refused in the handshake.
func TestAuthClientCertificates(t *testing.T) {
	serverCA, clientCA, otherCA := testcerts.NewCA(t, "servers"), testcerts.NewCA(t, "clients"), testcerts.NewCA(t, "other")
	b := &fake{ready: true, mine: map[string][]byte{"c-1": stored(t, events.ProfileUpdate{CustomerID: "c-1", Known: true, Version: 5})}}
	srv := tlsServer(t, serve.New(b, serve.Options{Auth: &serve.Auth{ClientCerts: true}}), serverCA.Issue(t, "worker"), clientCA)
	url := srv.URL + "/v1/profiles/c-1"

	good := clientCA.Issue(t, "engine")
	if resp, body := do(t, tlsClient(serverCA, &good), url, ""); resp.StatusCode != 200 || !strings.Contains(body, `"version":5`) {
		t.Fatalf("valid client certificate: status %d body %q; want 200", resp.StatusCode, body)
	}
	none := tlsClient(serverCA, nil)
	if resp, _ := do(t, none, url, ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no client certificate: status %d WWW-Authenticate %q; want 401 with a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if got := unauthorized(t, none, srv.URL, "missing"); got != "1" {
		t.Fatalf("missing counter = %s, want 1", got)
	}
	if resp, _ := do(t, none, srv.URL+"/readyz", ""); resp.StatusCode != 200 {
		t.Fatalf("/readyz without a certificate: %d, want 200", resp.StatusCode)
	}
	// Go clients only offer a certificate the server's CA list names; force
	// one from another CA, as a less careful client would.
	stranger := otherCA.Issue(t, "stranger")
	forced := tlsClient(serverCA, nil)
	forced.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &stranger.TLS, nil
	}
	if resp, err := forced.Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("certificate from an unknown CA: status %d, want a refused handshake", resp.StatusCode)
	}
}

// TestForwardingOverTLSWithAuth: two workers over HTTPS that both require
// credentials; the one that does not own a customer forwards with its own
// credentials (a token, or a client certificate), trusting the CA.
func TestForwardingOverTLSWithAuth(t *testing.T) {
	serverCA, clientCA := testcerts.NewCA(t, "servers"), testcerts.NewCA(t, "clients")
	workerCert := clientCA.Issue(t, "worker-client")
	engine := clientCA.Issue(t, "engine")
	cases := []struct {
		name      string
		forwarder *http.Client // how A reaches B
		token     string       // A's forwarding token
		want      int
	}{
		{"token", tlsClient(serverCA, nil), "worker-token", 200},
		{"client certificate", tlsClient(serverCA, &workerCert), "", 200},
		{"wrong token", tlsClient(serverCA, nil), "stale", http.StatusBadGateway},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := &serve.Auth{Tokens: []string{"worker-token", "engine-token"}, ClientCerts: true}
			owner := &fake{ready: true, mine: map[string][]byte{"c-9": stored(t, events.ProfileUpdate{CustomerID: "c-9", Known: true, Version: 11})}}
			sb := tlsServer(t, serve.New(owner, serve.Options{Auth: auth}), serverCA.Issue(t, "b"), clientCA)
			other := &fake{ready: true, owner: strings.TrimPrefix(sb.URL, "https://")}
			sa := tlsServer(t, serve.New(other, serve.Options{
				Auth: auth, ForwardScheme: "https", ForwardToken: tc.token, Client: tc.forwarder,
			}), serverCA.Issue(t, "a"), clientCA)

			// The caller authenticates to A either way.
			for _, caller := range []struct {
				cl    *http.Client
				token string
			}{{tlsClient(serverCA, nil), "engine-token"}, {tlsClient(serverCA, &engine), ""}} {
				resp, body := do(t, caller.cl, sa.URL+"/v1/profiles/c-9", caller.token)
				if resp.StatusCode != tc.want {
					t.Fatalf("forwarded request: status %d body %q, want %d", resp.StatusCode, body, tc.want)
				}
				if tc.want == 200 && !strings.Contains(body, `"version":11`) {
					t.Fatalf("forwarded body %q lacks the owner's profile", body)
				}
			}
			if resp, _ := do(t, tlsClient(serverCA, nil), sa.URL+"/v1/profiles/c-9", ""); resp.StatusCode != 401 {
				t.Fatalf("unauthenticated caller: status %d, want 401 before any forwarding", resp.StatusCode)
			}
		})
	}
}

// TestLogsHoldNoProfileContents captures every log line (debug level) of
// two workers while profiles are served, forwarded, refused and fail, and
// checks no profile field value and no token appears.
func TestLogsHoldNoProfileContents(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	p := events.ProfileUpdate{
		CustomerID: "c-secret-7", Known: true, Version: 42, Segment: "segment-zzq", Country: "QQ",
		RecentProducts: []string{"product-zzq-1"}, CartValueCents: 987654321, LifetimeValueCents: 123456789,
	}
	auth := &serve.Auth{Tokens: []string{"token-zzq"}}
	owner := &fake{ready: true, mine: map[string][]byte{p.CustomerID: stored(t, p), "c-broken": []byte(`{"profile": "segment-zzq"`)}}
	sb := httptest.NewServer(serve.New(owner, serve.Options{Auth: auth, Logger: log}))
	defer sb.Close()
	dead := httptest.NewServer(nil)
	deadAddr := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	other := &fake{ready: true, owner: strings.TrimPrefix(sb.URL, "http://")}
	sa := httptest.NewServer(serve.New(other, serve.Options{Auth: auth, ForwardToken: "token-zzq", Logger: log}))
	defer sa.Close()
	orphan := &fake{ready: true, owner: deadAddr}
	sc := httptest.NewServer(serve.New(orphan, serve.Options{Auth: auth, ForwardToken: "token-zzq", Logger: log}))
	defer sc.Close()

	cl := &http.Client{Timeout: 5 * time.Second}
	for _, r := range []struct {
		url, token string
		want       int
	}{
		{sb.URL + "/v1/profiles/" + p.CustomerID, "token-zzq", 200},
		{sa.URL + "/v1/profiles/" + p.CustomerID, "token-zzq", 200},
		{sb.URL + "/v1/profiles/c-broken", "token-zzq", 500},
		{sc.URL + "/v1/profiles/" + p.CustomerID, "token-zzq", 503},
		{sb.URL + "/v1/profiles/" + p.CustomerID, "token-zzq-wrong", 401},
		{sb.URL + "/v1/profiles/" + p.CustomerID, "", 401},
	} {
		if resp, body := do(t, cl, r.url, r.token); resp.StatusCode != r.want {
			t.Fatalf("GET %s: status %d body %q, want %d", r.url, resp.StatusCode, body, r.want)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("no log lines captured: the test would prove nothing")
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range logs.AllUntimed() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		line := buf.String()
		for _, secret := range []string{"segment-zzq", "QQ", "product-zzq-1", "987654321", "123456789", "c-secret-7", "token-zzq"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line contains %q: %s", secret, line)
			}
		}
	}
}
