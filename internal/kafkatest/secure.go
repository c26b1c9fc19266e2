package kafkatest

import (
	"crypto/tls"
	"crypto/x509"
	"github.com/weirstream/weir/internal/testcerts"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Environment variables that describe the real broker's SASL_SSL
// listener on tier 3 (scripts/test-real-kafka.sh exports them from the
// cluster.env that scripts/kafka.sh writes).
const (
	EnvSecureBrokers = "KAFKA_SASL_SSL_BROKERS"
	EnvSecureCA      = "KAFKA_SASL_CA" // PEM file of the CA that signed the broker's certificate
	EnvSASLMechanism = "KAFKA_SASL_MECHANISM"
	EnvSASLUser      = "KAFKA_SASL_USER"
	EnvSASLPassword  = "KAFKA_SASL_PASSWORD"
)

// Secure describes a listener that requires TLS and SASL.
type Secure struct {
	Brokers   []string
	CAFile    string         // PEM of the CA that signed the brokers' certificates
	RootCAs   *x509.CertPool // the same CA, parsed
	Mechanism string         // SCRAM-SHA-512
	User      string
	Password  string
}

// TLSConfig trusts the listener's CA.
func (s *Secure) TLSConfig() *tls.Config { return &tls.Config{RootCAs: s.RootCAs} }

// NewSecure gives a test a cluster with a TLS + SASL/SCRAM-SHA-512
// listener. Tier 2: a kfake cluster where every listener requires TLS
// (a CA made for the test) and SCRAM; the Cluster's own clients use them
// too. Tier 3: the harness's clients use KAFKA_BROKERS and the secured
// listener comes from KAFKA_SASL_SSL_BROKERS and friends; when those are
// missing the test fails, as tier 3 never skips.
func NewSecure(t testing.TB) (*Cluster, *Secure) {
	t.Helper()
	if os.Getenv(EnvBrokers) != "" {
		s := &Secure{
			Brokers:   splitList(os.Getenv(EnvSecureBrokers)),
			CAFile:    os.Getenv(EnvSecureCA),
			Mechanism: os.Getenv(EnvSASLMechanism),
			User:      os.Getenv(EnvSASLUser),
			Password:  os.Getenv(EnvSASLPassword),
		}
		if len(s.Brokers) == 0 || s.CAFile == "" || s.Mechanism == "" || s.User == "" || s.Password == "" {
			t.Fatalf("kafkatest: %s is set but the SASL_SSL listener is not described: set %s, %s, %s, %s and %s (scripts/test-real-kafka.sh exports them from scripts/kafka.sh's cluster.env)",
				EnvBrokers, EnvSecureBrokers, EnvSecureCA, EnvSASLMechanism, EnvSASLUser, EnvSASLPassword)
		}
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			t.Fatalf("kafkatest: %s: %v", EnvSecureCA, err)
		}
		s.RootCAs = x509.NewCertPool()
		if !s.RootCAs.AppendCertsFromPEM(pem) {
			t.Fatalf("kafkatest: %s=%s holds no PEM certificate", EnvSecureCA, s.CAFile)
		}
		return New(t), s
	}

	caPEM, serverCert := testPKI(t)
	s := &Secure{
		CAFile: filepath.Join(t.TempDir(), "ca.pem"), Mechanism: "SCRAM-SHA-512",
		User: "weir", Password: "weir-" + randSuffix(t), RootCAs: x509.NewCertPool(),
	}
	s.RootCAs.AppendCertsFromPEM(caPEM)
	if err := os.WriteFile(s.CAFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, []kfake.Opt{
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}}),
		kfake.EnableSASL(),
		kfake.Superuser(s.Mechanism, s.User, s.Password),
	}, []kgo.Opt{
		kgo.DialTLSConfig(s.TLSConfig()),
		kgo.SASL(scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism()),
	})
	s.Brokers = c.Brokers
	return c, s
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// testPKI makes a CA and a server certificate for 127.0.0.1 and
// localhost.
func testPKI(t testing.TB) (caPEM []byte, server tls.Certificate) {
	t.Helper()
	ca := testcerts.NewCA(t, "weir test CA")
	return ca.PEM, ca.Issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth).TLS
}

// WriteTestCA writes a freshly made CA certificate (PEM) into a
// temporary directory and returns its path, for tests of TLS settings.
func WriteTestCA(t testing.TB) string {
	t.Helper()
	caPEM, _ := testPKI(t)
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
