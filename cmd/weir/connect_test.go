package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"github.com/weirstream/weir/codec/avro"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/weirstream/weir/internal/kafkatest"
)

func parseConnect(t *testing.T, env map[string]string, args ...string) (connectOptions, error) {
	t.Helper()
	// Set env for this parse only (t.Setenv would last the whole test).
	for k, v := range env {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		if had {
			defer os.Setenv(k, old)
		} else {
			defer os.Unsetenv(k)
		}
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	c := addConnectFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := applyConfig(fs, os.Getenv); err != nil {
		return connectOptions{}, err
	}
	return c.options()
}

// TestConnectFlags: flags and WEIR_* variables become TLS, SASL and
// registry options; mistakes name the flag to fix.
func TestConnectFlags(t *testing.T) {
	sec := kafkatest.WriteTestCA(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	o, err := parseConnect(t, map[string]string{"WEIR_SASL_PASSWORD": "from-env", "WEIR_SASL_USER": "weir"},
		"-kafka-tls-ca", sec, "-sasl-mechanism", "scram-sha-512", "-client-id", "me")
	if err != nil {
		t.Fatal(err)
	}
	if o.tls == nil || o.tls.RootCAs == nil {
		t.Errorf("-kafka-tls-ca did not give a TLS config with the CA: %+v", o.tls)
	}
	if o.sasl != [3]string{"scram-sha-512", "weir", "from-env"} {
		t.Errorf("SASL from flags and env: %q", o.sasl)
	}
	if len(o.processor) != 3 {
		t.Errorf("%d processor options, want 3 (client id, TLS, SASL)", len(o.processor))
	}

	o, err = parseConnect(t, nil, "-kafka-tls", "-sasl-mechanism", "PLAIN", "-sasl-user", "u", "-sasl-password-file", pwFile,
		"-registry-user", "key", "-registry-password-file", pwFile, "-registry-ca", sec)
	if err != nil {
		t.Fatal(err)
	}
	if o.tls == nil || o.tls.RootCAs != nil {
		t.Errorf("-kafka-tls alone: want system roots, got %+v", o.tls)
	}
	if o.sasl[2] != "s3cret" {
		t.Errorf("password from file: %q", o.sasl[2])
	}
	if len(o.registry) != 2 {
		t.Errorf("%d registry options, want 2 (basic auth, transport)", len(o.registry))
	}

	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"-kafka-tls-cert", pwFile}, "-kafka-tls-key"},
		{nil, []string{"-kafka-tls-ca", pwFile}, "-kafka-tls-ca"},
		{nil, []string{"-sasl-user", "u"}, "-sasl-mechanism"},
		{map[string]string{"WEIR_SASL_PASSWORD": "x"}, []string{"-sasl-mechanism", "PLAIN", "-sasl-user", "u", "-sasl-password-file", pwFile}, "give the password once"},
		{map[string]string{"WEIR_REGISTRY_PASSWORD": "x"}, nil, "-registry-user"},
		{map[string]string{"WEIR_KAFKA_TLS": "yes please"}, nil, "WEIR_KAFKA_TLS"},
	} {
		if _, err := parseConnect(t, tc.env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want one naming %q", tc.env, tc.args, err, tc.want)
		}
	}
}

// TestRunFlagsReachSecuredCluster runs the weir binary against the
// TLS + SCRAM listener with the flags and environment variables a user
// would set: with the right password it gets past the connection (and
// stops on the topics, which do not exist); with a wrong one it fails
// within 30 s naming the mechanism and the broker.
func TestRunFlagsReachSecuredCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c, sec := kafkatest.NewSecure(t)
	bin := filepath.Join(t.TempDir(), "weir")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build weir: %v\n%s", err, out)
	}
	run := func(password string) (string, time.Duration, error) {
		cmd := exec.CommandContext(ctx, bin, "run",
			"-brokers", strings.Join(sec.Brokers, ","), "-registry", c.Registry,
			"-app", c.Name("app"), "-topic-prefix", c.Name("")+".", "-state-dir", t.TempDir(),
			"-kafka-tls-ca", sec.CAFile, "-sasl-mechanism", sec.Mechanism, "-sasl-user", sec.User)
		cmd.Env = append(os.Environ(), "WEIR_SASL_PASSWORD="+password)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		began := time.Now()
		err := cmd.Run()
		return out.String(), time.Since(began), err
	}

	out, _, err := run(sec.Password)
	if err == nil || !strings.Contains(out, "does not exist") {
		t.Fatalf("right password: want the missing-topic error after connecting, got %v:\n%s", err, out)
	}
	out, took, err := run(sec.Password + "-wrong")
	if err == nil {
		t.Fatalf("wrong password: weir run succeeded:\n%s", out)
	}
	if took > 30*time.Second {
		t.Errorf("wrong password: weir run took %v to fail", took)
	}
	for _, s := range []string{sec.Mechanism, sec.Brokers[0]} {
		if !strings.Contains(out, s) {
			t.Errorf("wrong password: output does not name %q:\n%s", s, out)
		}
	}
}

// TestRegistryFlags: -registry-user, WEIR_REGISTRY_PASSWORD and
// -registry-ca reach a registry that requires basic auth over TLS with a
// private CA; without the CA or with a wrong password the calls fail.
func TestRegistryFlags(t *testing.T) {
	reg := srfake.NewRegistry(srfake.WithAuth("Basic " + base64.StdEncoding.EncodeToString([]byte("key:secret"))))
	srv := httptest.NewUnstartedServer(reg.Handler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake is expected
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "registry-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	register := func(env map[string]string, args ...string) error {
		t.Helper()
		o, err := parseConnect(t, env, args...)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := avro.NewHTTPRegistryClient(srv.URL, o.registry...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = rc.Register(ctx, "s-value", `"string"`)
		return err
	}
	if err := register(map[string]string{"WEIR_REGISTRY_PASSWORD": "secret"}, "-registry-user", "key", "-registry-ca", caFile); err != nil {
		t.Fatalf("with user, password and CA: %v", err)
	}
	if err := register(map[string]string{"WEIR_REGISTRY_PASSWORD": "secret"}, "-registry-user", "key"); err == nil {
		t.Error("without -registry-ca the private CA's certificate was accepted")
	}
	if err := register(map[string]string{"WEIR_REGISTRY_PASSWORD": "wrong"}, "-registry-user", "key", "-registry-ca", caFile); err == nil {
		t.Error("a wrong registry password was accepted")
	}
}
