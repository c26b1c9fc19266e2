package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"github.com/weirstream/weir/codec/avro"
	"net/http"
	"os"
	"strings"

	"github.com/weirstream/weir/processor"
)

// connectFlags are weir run's flags for reaching a secured cluster and
// registry. Like every weir run flag, each also reads its WEIR_*
// variable (config.go), so secrets can stay out of the command line (and
// out of ps).
type connectFlags struct {
	clientID               *string
	tlsOn                  *bool
	tlsCA, tlsCert, tlsKey *string
	saslMech, saslUser     *string
	saslPass, saslPassFile *string
	regUser, regPass       *string
	regPassFile, regCA     *string
}

func addConnectFlags(fs *flag.FlagSet) *connectFlags {
	c := &connectFlags{}
	c.clientID = fs.String("client-id", "", "Kafka client id of every client (default: the application id)")
	c.tlsOn = fs.Bool("kafka-tls", false, "connect to Kafka over TLS, trusting the system's root CAs unless -kafka-tls-ca is given")
	c.tlsCA = fs.String("kafka-tls-ca", "", "PEM file of the CA(s) that signed the brokers' certificates; implies -kafka-tls")
	c.tlsCert = fs.String("kafka-tls-cert", "", "PEM client certificate for mutual TLS (with -kafka-tls-key); implies -kafka-tls")
	c.tlsKey = fs.String("kafka-tls-key", "", "PEM private key of -kafka-tls-cert")
	c.saslMech = fs.String("sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: no SASL)")
	c.saslUser = fs.String("sasl-user", "", "SASL user name")
	c.saslPass = fs.String("sasl-password", "", "SASL password; visible in ps: prefer WEIR_SASL_PASSWORD or -sasl-password-file")
	c.saslPassFile = fs.String("sasl-password-file", "", "file holding the SASL password")
	c.regUser = fs.String("registry-user", "", "schema registry basic-auth user (Confluent Cloud: API key)")
	c.regPass = fs.String("registry-password", "", "schema registry password; visible in ps: prefer WEIR_REGISTRY_PASSWORD or -registry-password-file")
	c.regPassFile = fs.String("registry-password-file", "", "file holding the schema registry password")
	c.regCA = fs.String("registry-ca", "", "PEM file of the CA(s) that signed the registry's certificate (default: system roots)")
	return c
}

// connectOptions are the parsed flags: what processor and the registry
// client get.
type connectOptions struct {
	processor []processor.Opt
	registry  []avro.HTTPClientOpt
	tls       *tls.Config // nil: plaintext
	sasl      [3]string   // mechanism, user, password; empty: none
}

// options checks the flags and turns them into options. Mistakes name
// the flag to fix.
func (c *connectFlags) options() (connectOptions, error) {
	var o connectOptions
	var errs []error
	if *c.clientID != "" {
		o.processor = append(o.processor, processor.ClientID(*c.clientID))
	}

	if *c.tlsOn || *c.tlsCA != "" || *c.tlsCert != "" || *c.tlsKey != "" {
		cfg := &tls.Config{}
		if *c.tlsCA != "" {
			pool, err := loadCA(*c.tlsCA)
			if err != nil {
				errs = append(errs, fmt.Errorf("-kafka-tls-ca: %w", err))
			}
			cfg.RootCAs = pool
		}
		switch {
		case (*c.tlsCert == "") != (*c.tlsKey == ""):
			errs = append(errs, errors.New("-kafka-tls-cert and -kafka-tls-key go together: give both or neither"))
		case *c.tlsCert != "":
			cert, err := tls.LoadX509KeyPair(*c.tlsCert, *c.tlsKey)
			if err != nil {
				errs = append(errs, fmt.Errorf("-kafka-tls-cert/-kafka-tls-key: %w", err))
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		o.tls = cfg
		o.processor = append(o.processor, processor.TLS(cfg))
	}

	pass, err := secret(*c.saslPass, *c.saslPassFile, "-sasl-password")
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case *c.saslMech != "":
		// processor.SASL validates the mechanism, user and password.
		o.sasl = [3]string{*c.saslMech, *c.saslUser, pass}
		o.processor = append(o.processor, processor.SASL(*c.saslMech, *c.saslUser, pass))
	case *c.saslUser != "" || pass != "":
		errs = append(errs, errors.New("SASL user or password given without -sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"))
	}

	regPass, err := secret(*c.regPass, *c.regPassFile, "-registry-password")
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case *c.regUser != "":
		o.registry = append(o.registry, avro.BasicAuth(*c.regUser, regPass))
	case regPass != "":
		errs = append(errs, errors.New("registry password given without -registry-user"))
	}
	if *c.regCA != "" {
		pool, err := loadCA(*c.regCA)
		if err != nil {
			errs = append(errs, fmt.Errorf("-registry-ca: %w", err))
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: pool}
		o.registry = append(o.registry, avro.Transport(t))
	}
	return o, errors.Join(errs...)
}

// secret is a password from its flag (or the flag's WEIR_* variable or
// config key) or from its file (flag name + "-file"), not both.
func secret(value, file, flagName string) (string, error) {
	if value != "" && file != "" {
		return "", fmt.Errorf("give the password once: %s (%s) or %s-file", flagName, envName(strings.TrimPrefix(flagName, "-")), flagName)
	}
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s-file: %w", flagName, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s-file %s is empty", flagName, file)
	}
	return v, nil
}

func loadCA(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
