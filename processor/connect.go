package processor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap"
)

// SASL mechanisms accepted by SASL.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// closedRoundsMax is how many rounds of connections closed during SASL
// (about 5 s with the backoff) checkConnection takes for a rejection.
const closedRoundsMax = 7

// connConfig is how every Kafka client of a worker reaches the cluster.
type connConfig struct {
	clientID string
	tls      *tls.Config
	tlsOn    bool
	sasl     *saslConfig
	kafka    []kgo.Opt
}

type saslConfig struct{ mechanism, user, password string }

// ClientID sets the client id every Kafka client of the worker sends, as
// brokers log it and match quotas on it. Default: the application id.
func ClientID(id string) Opt { return optFunc(func(c *config) { c.conn.clientID = id }) }

// TLS connects to the brokers over TLS with cfg (cloned per connection;
// its ServerName defaults to the broker's host). A nil cfg means the
// system's root CAs and Go's defaults. Set Certificates for mutual TLS.
// Default: plaintext.
func TLS(cfg *tls.Config) Opt {
	return optFunc(func(c *config) {
		c.conn.tlsOn = true
		c.conn.tls = cfg
	})
}

// SASL authenticates every connection with mechanism (SASLPlain,
// SASLScramSHA256 or SASLScramSHA512, case-insensitive) as user. PLAIN
// sends the password as it is: use it only together with TLS.
// Default: no authentication.
func SASL(mechanism, user, password string) Opt {
	return optFunc(func(c *config) {
		c.conn.sasl = &saslConfig{mechanism: strings.ToUpper(strings.TrimSpace(mechanism)), user: user, password: password}
	})
}

// KafkaOpts adds franz-go options to every Kafka client the worker
// builds (group member, admin, restore and global-table readers), for
// what the other options do not cover: a custom dialer, AWS MSK IAM or
// OAUTHBEARER through kgo.SASL, timeouts, hooks. They apply after the
// connection options above and before the options each client's job
// needs (consumer group, isolation level, transactional id, callbacks),
// which always win so that exactly-once cannot be switched off by
// accident. Default: none.
func KafkaOpts(opts ...kgo.Opt) Opt {
	return optFunc(func(c *config) { c.conn.kafka = append(c.conn.kafka, opts...) })
}

func (c *config) validateConn() []error {
	var errs []error
	if c.conn.clientID != "" && strings.TrimSpace(c.conn.clientID) != c.conn.clientID {
		errs = append(errs, fmt.Errorf("%w: client id %q has surrounding spaces", ErrConfig, c.conn.clientID))
	}
	if s := c.conn.sasl; s != nil {
		if _, err := s.mechanismImpl(); err != nil {
			errs = append(errs, err)
		}
		if s.user == "" {
			errs = append(errs, fmt.Errorf("%w: SASL %s: empty user name: pass processor.SASL(mechanism, user, password)", ErrConfig, s.mechanism))
		}
		if s.password == "" {
			errs = append(errs, fmt.Errorf("%w: SASL %s: empty password for user %q", ErrConfig, s.mechanism, s.user))
		}
		if s.mechanism == SASLPlain && !c.conn.tlsOn {
			c.log.Warn("SASL PLAIN without TLS sends the password in the clear: add processor.TLS")
		}
	}
	for i, o := range c.conn.kafka {
		if o == nil {
			errs = append(errs, fmt.Errorf("%w: KafkaOpts: option %d is nil", ErrConfig, i))
		}
	}
	return errs
}

func (s *saslConfig) mechanismImpl() (sasl.Mechanism, error) {
	switch s.mechanism {
	case SASLPlain:
		return plain.Auth{User: s.user, Pass: s.password}.AsMechanism(), nil
	case SASLScramSHA256:
		return scram.Auth{User: s.user, Pass: s.password}.AsSha256Mechanism(), nil
	case SASLScramSHA512:
		return scram.Auth{User: s.user, Pass: s.password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("%w: unknown SASL mechanism %q: use %s, %s or %s",
		ErrConfig, s.mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
}

// clientOpts is the one place that says how a client of this worker
// connects: seeds, client id, TLS, SASL and logging, then the caller's
// KafkaOpts, then own, the options of the client's job. role names the
// client in logs ("group", "admin", "restore", "global").
func (a *App) clientOpts(role string, own ...kgo.Opt) []kgo.Opt {
	id := a.cfg.conn.clientID
	if id == "" {
		id = a.topo.AppID()
	}
	return append(a.cfg.connOpts(id, a.log.Named("kgo").With(zap.String("client", role))), own...)
}

// ClientOpts returns the franz-go options that connect a client the way
// a worker built with opts does (SeedBrokers, ClientID, TLS, SASL,
// Logger, KafkaOpts), for an application's own clients such as the
// collector's producer. Options that do not connect are checked and
// otherwise ignored.
func ClientOpts(opts ...Opt) ([]kgo.Opt, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return c.connOpts(c.conn.clientID, c.log.Named("kgo")), nil
}

func (c *config) connOpts(clientID string, log *zap.Logger) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.brokers...),
		kgo.WithLogger(kgoLogger{log}),
	}
	if clientID != "" {
		opts = append(opts, kgo.ClientID(clientID))
	}
	if c.conn.tlsOn {
		t := c.conn.tls
		if t == nil {
			t = new(tls.Config)
		}
		opts = append(opts, kgo.DialTLSConfig(t))
	}
	if c.conn.sasl != nil {
		m, _ := c.conn.sasl.mechanismImpl() // validated in newConfig
		opts = append(opts, kgo.SASL(m))
	}
	return append(opts, c.conn.kafka...)
}

// newClient builds a plain client (not the group member) for role.
func (a *App) newClient(role string, own ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(a.clientOpts(role, own...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka client (%s): %v", ErrConfig, role, err)
	}
	return cl, nil
}

// checkConnection asks the seed brokers, one at a time, for metadata
// until one answers. Failures no retry can cure (a rejected password, a
// certificate not trusted, TLS on one side only) end start-up at once
// with an error naming the broker and what to change; others (a broker
// not up yet) are retried for a minute, like the rest of start-up.
func (a *App) checkConnection(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
	brokers := cl.SeedBrokers()
	backoff := 50 * time.Millisecond
	// closedRounds counts rounds in which every seed accepted the
	// connection and then closed it: with SASL on, that is how some
	// brokers (and kfake) answer bad credentials.
	closedRounds := 0
	for {
		var last error
		closed := 0
		for i, b := range brokers {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			req := kmsg.NewPtrMetadataRequest()
			req.Topics = []kmsg.MetadataRequestTopic{}
			_, err := b.Request(rctx, req)
			cancel()
			if err == nil {
				return nil
			}
			addr := fmt.Sprintf("seed %d", i)
			if i < len(seeds) {
				addr = seeds[i]
			}
			if msg := a.connectionHint(err); msg != "" {
				return fmt.Errorf("%w: broker %s: %s: %w", ErrConfig, addr, msg, err)
			}
			last = fmt.Errorf("broker %s: %w", addr, err)
			if a.cfg.conn.sasl != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
				closed++
			}
		}
		if closed == len(brokers) {
			closedRounds++
		} else {
			closedRounds = 0
		}
		if s := a.cfg.conn.sasl; closedRounds >= closedRoundsMax {
			return fmt.Errorf("%w: brokers %s: SASL %s as user %q: the brokers closed every connection during authentication (%d rounds): check the user and password, and that the listener enables %s",
				ErrConfig, strings.Join(seeds, ","), s.mechanism, s.user, closedRounds, s.mechanism)
		}
		a.log.Warn("retrying", zap.String("what", "connect to Kafka"), zap.Error(last), zap.Duration("backoff", backoff))
		if sleepCtx(ctx, backoff) != nil {
			return fmt.Errorf("processor: cannot reach Kafka at %v: %w (last error: %v)", a.cfg.brokers, ctx.Err(), last)
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// connectionHint says what to change when err is a connection failure
// that retrying cannot cure, or returns "".
func (a *App) connectionHint(err error) string {
	c := a.cfg.conn
	mech := "no SASL"
	if c.sasl != nil {
		mech = fmt.Sprintf("SASL %s as user %q", c.sasl.mechanism, c.sasl.user)
	}
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Sprintf("%s: authentication failed: check the user and password (processor.SASL)", mech)
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Sprintf("%s: the broker does not enable this mechanism: pick one its listener accepts", mech)
	case errors.Is(err, kerr.IllegalSaslState):
		return fmt.Sprintf("%s: the listener does not expect SASL: check the port and the security protocol", mech)
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		firstEOF  *kgo.ErrFirstReadEOF
	)
	switch {
	case errors.As(err, &unknownCA):
		return "TLS: the broker's certificate is not signed by a trusted CA: set processor.TLS with RootCAs holding the cluster's CA"
	case errors.As(err, &hostname):
		return "TLS: the broker's certificate does not name this host: connect by a name the certificate lists, or set ServerName"
	case errors.As(err, &invalid):
		return "TLS: the broker's certificate is invalid (expired or not for server use)"
	case errors.As(err, &verify):
		return "TLS: the broker's certificate cannot be verified: check processor.TLS's RootCAs"
	case errors.As(err, &header):
		return "TLS: the broker did not answer TLS: this port is a plaintext listener, drop processor.TLS or use the TLS port"
	case errors.As(err, &alert):
		return "TLS: the broker refused the handshake (a client certificate may be required)"
	case !c.tlsOn && strings.Contains(err.Error(), "plaintext connection speaking to a tls endpoint"):
		// franz-go's guess from a TLS alert where a response size was
		// due; it has no error type for it.
		return "the listener speaks TLS and the client does not: add processor.TLS, or use the plaintext port"
	case errors.As(err, &firstEOF) && !kgo.IsRetryableBrokerErr(err):
		return fmt.Sprintf("the broker closed the connection at once (client: TLS %v, %s): the listener's security protocol differs from the client's", c.tlsOn, mech)
	}
	return ""
}
