package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"github.com/weirstream/weir/codec/avro"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/weirstream/weir/internal/profiledemo"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/serve"
)

// httpFlags are weir run's worker API flags. Like every weir run flag,
// each also reads its WEIR_* variable (config.go: -http-tls-cert reads
// WEIR_HTTP_TLS_CERT); WEIR_HTTP_TOKENS, no flag's variable, holds tokens
// themselves, an alternative to -http-token-file.
type httpFlags struct {
	listen, advertise       string
	cert, key, clientCA     string
	tokenFile, peerCA       string
	forwardCert, forwardKey string
	noAuth                  bool
	reload                  time.Duration
}

// envTokens names the variable holding bearer tokens, one per line.
const envTokens = "WEIR_HTTP_TOKENS"

func (h *httpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.listen, "http", "", "serve the worker API (profiles, profile streams, triggers, health, metrics) on this address, e.g. :8080 (profiles pipeline)")
	fs.StringVar(&h.advertise, "advertise", "", "host:port other workers and clients reach this worker's API at (default: -http when it names a host)")
	fs.StringVar(&h.cert, "http-tls-cert", "", "serve HTTPS with this PEM certificate (chain) file")
	fs.StringVar(&h.key, "http-tls-key", "", "PEM private key of -http-tls-cert")
	fs.StringVar(&h.clientCA, "http-client-ca", "", "accept client certificates signed by this PEM CA as credentials (mTLS; needs -http-tls-cert)")
	fs.StringVar(&h.tokenFile, "http-token-file", "", "accept the bearer tokens in this file, one per line (or set "+envTokens+")")
	fs.StringVar(&h.peerCA, "http-peer-ca", "", "PEM CA that signed the other workers' certificates, trusted when forwarding (default: system roots)")
	fs.StringVar(&h.forwardCert, "http-forward-cert", "", "client certificate presented when forwarding to workers that require one (default: -http-tls-cert, with -http-client-ca)")
	fs.StringVar(&h.forwardKey, "http-forward-key", "", "PEM private key of -http-forward-cert")
	fs.DurationVar(&h.reload, "http-token-reload", 10*time.Second, "re-read -http-token-file this often and apply changes without a restart (0: never)")
	fs.BoolVar(&h.noAuth, "http-no-auth", false, "serve profiles and triggers without credentials (only behind something that authenticates)")
}

// httpSetup is the checked configuration of the worker API.
type httpSetup struct {
	listen, advertise string
	tls               *tls.Config // nil: plain HTTP
	opts              serve.Options
	tokenFile         string // re-read every reload when set
	tokenBytes        []byte // its content at start-up
	reload            time.Duration
}

// setup checks the flags and loads every file they name, so a mistake
// stops start-up with a message that says what to change. nil, nil: no
// HTTP.
func (h *httpFlags) setup(getenv func(string) string, log *zap.Logger) (*httpSetup, error) {
	envTok := getenv(envTokens)
	if h.listen == "" {
		if h.advertise != "" || h.cert != "" || h.key != "" || h.clientCA != "" || h.tokenFile != "" || h.peerCA != "" || h.forwardCert != "" || h.noAuth {
			return nil, errors.New("-advertise and the -http-* flags configure the worker API: give -http ADDR too")
		}
		return nil, nil
	}
	s := &httpSetup{listen: h.listen, advertise: h.advertise}
	if (h.cert == "") != (h.key == "") {
		return nil, errors.New("-http-tls-cert and -http-tls-key go together: give both, or neither for plain HTTP")
	}
	if (h.forwardCert == "") != (h.forwardKey == "") {
		return nil, errors.New("-http-forward-cert and -http-forward-key go together: give both")
	}
	if h.clientCA != "" && h.cert == "" {
		return nil, errors.New("-http-client-ca: client certificates need TLS: give -http-tls-cert and -http-tls-key too")
	}
	if h.cert == "" && (h.peerCA != "" || h.forwardCert != "") {
		return nil, errors.New("-http-peer-ca and -http-forward-cert are for workers serving HTTPS: give -http-tls-cert and -http-tls-key too")
	}
	if s.advertise == "" {
		if h.cert != "" {
			return nil, errors.New("-advertise HOST:PORT is required with -http-tls-cert: other workers forward to it, and its host must match the certificate")
		}
		host, port, err := net.SplitHostPort(h.listen)
		if err != nil {
			return nil, fmt.Errorf("-http %q: %w", h.listen, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) || port == "0" {
			return nil, fmt.Errorf("-http %q listens on every interface or a random port: give -advertise HOST:PORT, where other workers reach this one", h.listen)
		}
		s.advertise = h.listen
	}
	if host, port, err := net.SplitHostPort(s.advertise); err != nil || host == "" {
		return nil, fmt.Errorf("-advertise %q: want HOST:PORT", s.advertise)
	} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("-advertise %q: port must be 1-65535", s.advertise)
	}

	// Credentials.
	auth := &serve.Auth{}
	switch {
	case h.tokenFile != "" && envTok != "":
		return nil, fmt.Errorf("give -http-token-file or %s, not both", envTokens)
	case h.tokenFile != "":
		b, err := os.ReadFile(h.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("-http-token-file: %w", err)
		}
		if auth.Tokens = parseTokens(string(b)); len(auth.Tokens) == 0 {
			return nil, fmt.Errorf("-http-token-file %s holds no tokens (one per line; # starts a comment)", h.tokenFile)
		}
		if h.reload < 0 {
			return nil, fmt.Errorf("-http-token-reload %v: want 0 (never) or a positive interval", h.reload)
		}
		s.tokenFile, s.tokenBytes, s.reload = h.tokenFile, b, h.reload
	case envTok != "":
		if auth.Tokens = parseTokens(envTok); len(auth.Tokens) == 0 {
			return nil, fmt.Errorf("%s holds no tokens", envTokens)
		}
	}
	auth.ClientCerts = h.clientCA != ""
	switch {
	case h.noAuth && (len(auth.Tokens) > 0 || auth.ClientCerts):
		return nil, errors.New("-http-no-auth contradicts the tokens or client CA given: drop one")
	case h.noAuth:
		log.Warn("http: -http-no-auth: anyone who reaches this port reads every profile")
	default:
		if err := auth.Validate(); err != nil {
			if errors.Is(err, serve.ErrNoCredentials) {
				return nil, fmt.Errorf("-http serves profiles, which are personal data: give -http-token-file, %s or -http-client-ca (or -http-no-auth when something in front authenticates)", envTokens)
			}
			return nil, fmt.Errorf("-http-token-file/%s: %w", envTokens, err)
		}
		s.opts.Auth = auth
		if len(auth.Tokens) > 0 {
			// Workers share the token list; forwarding presents its first.
			s.opts.ForwardToken = auth.Tokens[0]
		}
	}

	// TLS: serving, and forwarding to the other workers.
	fwd := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second}
	s.opts.Client = &http.Client{Timeout: 5 * time.Second, Transport: fwd}
	if h.cert == "" {
		if len(auth.Tokens) > 0 {
			log.Warn("http: bearer tokens over plain HTTP can be read on the network: give -http-tls-cert and -http-tls-key")
		}
		return s, nil
	}
	cert, err := tls.LoadX509KeyPair(h.cert, h.key)
	if err != nil {
		return nil, fmt.Errorf("-http-tls-cert/-http-tls-key: %w", err)
	}
	s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if h.clientCA != "" {
		pool, err := loadPool("-http-client-ca", h.clientCA)
		if err != nil {
			return nil, err
		}
		// IfGiven, not Require: token clients and health probes connect
		// without a certificate and are judged per request.
		s.tls.ClientCAs, s.tls.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	fwd.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if h.peerCA != "" {
		if fwd.TLSClientConfig.RootCAs, err = loadPool("-http-peer-ca", h.peerCA); err != nil {
			return nil, err
		}
	}
	if h.forwardCert != "" {
		fc, err := tls.LoadX509KeyPair(h.forwardCert, h.forwardKey)
		if err != nil {
			return nil, fmt.Errorf("-http-forward-cert/-http-forward-key: %w", err)
		}
		fwd.TLSClientConfig.Certificates = []tls.Certificate{fc}
	} else if h.clientCA != "" {
		if len(auth.Tokens) == 0 && !clientUsable(cert) {
			return nil, errors.New("-http-tls-cert is not valid for client authentication (extended key usage lacks clientAuth), and forwarding has no token: give -http-forward-cert/-http-forward-key or tokens")
		}
		fwd.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	s.opts.ForwardScheme = "https"
	return s, nil
}

// clientUsable reports whether a certificate may authenticate a client.
func clientUsable(c tls.Certificate) bool {
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return false
	}
	return len(leaf.ExtKeyUsage) == 0 || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny)
}

func loadPool(flagName, file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flagName, file)
	}
	return pool, nil
}

// parseTokens splits tokens by line (and comma), skipping blanks and
// # comments.
func parseTokens(s string) []string {
	var out []string
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' }) {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// httpWorker is a running worker API.
type httpWorker struct {
	srv    *http.Server
	cancel context.CancelFunc // stops the trigger feed
}

// listen binds the address before the worker starts, so a taken port
// fails start-up rather than later.
func (s *httpSetup) bind() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return nil, fmt.Errorf("-http %s: %w", s.listen, err)
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	return ln, nil
}

// start serves app's API on ln and, for the profiles pipeline, feeds
// /v1/triggers from the triggers topic and /v1/profiles/{id}/stream from
// the profile updates topic. Each worker follows both whole topics, every
// partition, so any worker streams any customer.
func (s *httpSetup) start(ctx context.Context, ln net.Listener, app *processor.App, reg *prometheus.Registry, registry string, regOpts []avro.HTTPClientOpt, tp profile.Topics, log *zap.Logger) *httpWorker {
	opts := s.opts
	opts.Self, opts.Gatherer, opts.Logger = s.advertise, reg, log
	api := serve.New(app, opts)
	ctx, cancel := context.WithCancel(ctx)
	hw := &httpWorker{cancel: cancel, srv: &http.Server{
		Handler: api, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: zap.NewStdLog(log),
	}}
	go func() {
		if err := hw.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("http: serve", zap.Error(err))
		}
	}()
	if s.tokenFile != "" && s.reload > 0 {
		go s.reloadTokens(ctx, api, log)
	}
	go func() {
		if err := profiledemo.FollowTriggers(ctx, app.Follow, registry, tp.Triggers, log, api.Publish, regOpts...); err != nil {
			log.Error("http: triggers stream stopped", zap.Error(err))
		}
	}()
	go func() {
		if err := profiledemo.FollowProfiles(ctx, app.Follow, registry, tp.Updates, log, api.PublishProfile, regOpts...); err != nil {
			log.Error("http: profile streams stopped", zap.Error(err))
		}
	}()
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
	}
	fmt.Fprintf(os.Stderr, "weir: serving %s://%s (advertised as %s)\n", scheme, ln.Addr(), s.advertise)
	return hw
}

// reloadTokens re-reads the token file every s.reload and applies a
// changed one: rotation without a restart (a Kubernetes secret volume
// updates the file in place). A file that cannot be read or holds no
// valid token is logged and the tokens in force are kept. Forwarding
// presents the first token, so rotate in two steps: append the new token,
// and once every worker has it, remove the old one.
func (s *httpSetup) reloadTokens(ctx context.Context, api *serve.Server, log *zap.Logger) {
	last := s.tokenBytes
	tick := time.NewTicker(s.reload)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b, err := os.ReadFile(s.tokenFile)
		if err != nil {
			log.Warn("http: token file unreadable; keeping the tokens in force", zap.String("file", s.tokenFile), zap.Error(err))
			continue
		}
		if bytes.Equal(b, last) {
			continue
		}
		tokens := parseTokens(string(b))
		if len(tokens) == 0 {
			err = errors.New("no tokens in it")
		} else {
			err = api.SetTokens(tokens)
		}
		last = b // warn once per bad version
		if err != nil {
			log.Warn("http: token file changed but is not usable; keeping the tokens in force", zap.String("file", s.tokenFile), zap.Error(err))
			continue
		}
		api.SetForwardToken(tokens[0])
		log.Info("http: token file reloaded", zap.String("file", s.tokenFile), zap.Int("tokens", len(tokens)))
	}
}

// stop closes the API: open trigger and profile streams would hold a graceful
// shutdown, so they get a second.
func (hw *httpWorker) stop() {
	hw.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if hw.srv.Shutdown(ctx) != nil {
		hw.srv.Close()
	}
}

// workerMetrics adds the API's Prometheus metrics to m.
func workerMetrics(m processor.Metrics, reg *prometheus.Registry) processor.Metrics {
	return profiledemo.Fanout{m, serve.NewMetrics(reg)}
}
