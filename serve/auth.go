package serve

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Auth says who may read profiles and triggers. A request passes with any
// one of the credentials configured; /healthz, /readyz and /metrics stay
// open (probes and scrapers carry no credentials).
type Auth struct {
	// Tokens are the bearer tokens accepted ("Authorization: Bearer
	// <token>"). Several may be valid at once, so a token is rotated by
	// adding the new one, moving clients, then removing the old one.
	// Default: none.
	Tokens []string
	// ClientCerts accepts a request whose TLS connection carries a client
	// certificate that the server verified (tls.Config.ClientCAs with
	// tls.VerifyClientCertIfGiven, so token clients and probes still
	// connect). Default: false.
	ClientCerts bool
}

// ErrNoCredentials is returned by Auth.Validate when an Auth accepts nothing.
var ErrNoCredentials = errors.New("serve: auth accepts no credentials")

// Validate reports an Auth that no request could pass.
func (a *Auth) Validate() error {
	if len(a.Tokens) == 0 && !a.ClientCerts {
		return fmt.Errorf("%w: give tokens or enable client certificates", ErrNoCredentials)
	}
	for i, t := range a.Tokens {
		if t == "" || strings.ContainsAny(t, " \t\r\n") {
			return fmt.Errorf("serve: token %d is empty or contains white space", i+1)
		}
	}
	return nil
}

// guard checks credentials before h; nil auth lets every request through.
type guard struct {
	open        bool
	tokens      atomic.Pointer[[][sha256.Size]byte] // hashed: equal length, so compared in constant time
	clientCerts bool
	denied      *prometheus.CounterVec
	log         *zap.Logger
}

func newGuard(a *Auth, reg prometheus.Registerer, log *zap.Logger) *guard {
	g := &guard{
		open: a == nil,
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_http_unauthorized_total",
			Help: "Requests refused with 401, by reason (missing or invalid credentials).",
		}, []string{"reason"}),
		log: log,
	}
	// Both reasons exist from the start, so a scrape shows 0, not nothing.
	g.denied.WithLabelValues("missing")
	g.denied.WithLabelValues("invalid")
	reg.MustRegister(g.denied)
	if a != nil {
		g.setTokens(a.Tokens)
		g.clientCerts = a.ClientCerts
	}
	return g
}

func (g *guard) setTokens(tokens []string) {
	hashed := make([][sha256.Size]byte, len(tokens))
	for i, t := range tokens {
		hashed[i] = sha256.Sum256([]byte(t))
	}
	g.tokens.Store(&hashed)
}

// SetForwardToken replaces Options.ForwardToken.
func (s *Server) SetForwardToken(tok string) { s.forwardToken.Store(&tok) }

// ErrOpen is returned by SetTokens on a Server built without Auth.
var ErrOpen = errors.New("serve: the server was built without Auth")

// SetTokens replaces the accepted bearer tokens, for rotation without a
// restart; requests in flight finish with the old set. The new set is
// checked as Auth.Validate does: it may be empty only when client
// certificates are accepted.
func (s *Server) SetTokens(tokens []string) error {
	if s.guard.open {
		return ErrOpen
	}
	a := Auth{Tokens: tokens, ClientCerts: s.guard.clientCerts}
	if err := a.Validate(); err != nil {
		return err
	}
	s.guard.setTokens(slices.Clone(tokens))
	return nil
}

// wrap answers 401 unless r carries valid credentials.
func (g *guard) wrap(h http.HandlerFunc) http.HandlerFunc {
	if g.open {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if g.clientCerts && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			h(w, r)
			return
		}
		reason, challenge := "missing", `Bearer realm="weir"`
		if authz := r.Header.Get("Authorization"); authz != "" {
			reason, challenge = "invalid", `Bearer realm="weir", error="invalid_token"`
			scheme, tok, ok := strings.Cut(authz, " ")
			if ok && strings.EqualFold(scheme, "Bearer") && g.tokenOK(strings.TrimSpace(tok)) {
				h(w, r)
				return
			}
		}
		g.denied.WithLabelValues(reason).Inc()
		// Never log the header (a wrong token is often a right one for
		// another service) nor the path (it names a customer).
		g.log.Debug("serve: unauthorized", zap.String("reason", reason), zap.String("remote", r.RemoteAddr))
		if len(*g.tokens.Load()) > 0 {
			w.Header().Set("WWW-Authenticate", challenge)
		} else {
			w.Header().Set("WWW-Authenticate", `Mutual realm="weir"`)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "{\"error\":\"unauthorized: %s credentials\"}\n", reason)
	}
}

// tokenOK compares tok with every token, each in constant time, without
// stopping at a match.
func (g *guard) tokenOK(tok string) bool {
	h := sha256.Sum256([]byte(tok))
	ok := 0
	for _, t := range *g.tokens.Load() {
		ok |= subtle.ConstantTimeCompare(h[:], t[:])
	}
	return ok == 1
}
