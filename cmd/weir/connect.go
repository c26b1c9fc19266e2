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
	"strconv"
	"strings"

	"github.com/weirstream/weir/processor"
)

// connectFlags are weir run's flags for reaching a secured cluster and
// registry. Each defaults to a WEIR_* environment variable, so secrets
// can stay out of the command line (and out of ps).
type connectFlags struct {
	clientID               *string
	tlsOn                  *bool
	tlsCA, tlsCert, tlsKey *string
	saslMech, saslUser     *string
	saslPass, saslPassFile *string
	regUser, regPass       *string
	regPassFile, regCA     *string
	envErr                 error
}

func addConnectFlags(fs *flag.FlagSet) *connectFlags {
	c := &connectFlags{}
	env := os.Getenv
	tlsDefault := false
	if v := env("WEIR_KAFKA_TLS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.envErr = fmt.Errorf("WEIR_KAFKA_TLS=%q: use true or false", v)
		}
		tlsDefault = b
	}
	c.clientID = fs.String("client-id", env("WEIR_CLIENT_ID"), "Kafka client id of every client (default: the application id) [WEIR_CLIENT_ID]")
	c.tlsOn = fs.Bool("kafka-tls", tlsDefault, "connect to Kafka over TLS, trusting the system's root CAs unless -kafka-tls-ca is given [WEIR_KAFKA_TLS]")
	c.tlsCA = fs.String("kafka-tls-ca", env("WEIR_KAFKA_TLS_CA"), "PEM file of the CA(s) that signed the brokers' certificates; implies -kafka-tls [WEIR_KAFKA_TLS_CA]")
	c.tlsCert = fs.String("kafka-tls-cert", env("WEIR_KAFKA_TLS_CERT"), "PEM client certificate for mutual TLS (with -kafka-tls-key); implies -kafka-tls [WEIR_KAFKA_TLS_CERT]")
	c.tlsKey = fs.String("kafka-tls-key", env("WEIR_KAFKA_TLS_KEY"), "PEM private key of -kafka-tls-cert [WEIR_KAFKA_TLS_KEY]")
	c.saslMech = fs.String("sasl-mechanism", env("WEIR_SASL_MECHANISM"), "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: no SASL) [WEIR_SASL_MECHANISM]")
	c.saslUser = fs.String("sasl-user", env("WEIR_SASL_USER"), "SASL user name [WEIR_SASL_USER]")
	c.saslPass = fs.String("sasl-password", "", "SASL password; visible in ps: prefer WEIR_SASL_PASSWORD or -sasl-password-file")
	c.saslPassFile = fs.String("sasl-password-file", env("WEIR_SASL_PASSWORD_FILE"), "file holding the SASL password [WEIR_SASL_PASSWORD_FILE]")
	c.regUser = fs.String("registry-user", env("WEIR_REGISTRY_USER"), "schema registry basic-auth user (Confluent Cloud: API key) [WEIR_REGISTRY_USER]")
	c.regPass = fs.String("registry-password", "", "schema registry password; visible in ps: prefer WEIR_REGISTRY_PASSWORD or -registry-password-file")
	c.regPassFile = fs.String("registry-password-file", env("WEIR_REGISTRY_PASSWORD_FILE"), "file holding the schema registry password [WEIR_REGISTRY_PASSWORD_FILE]")
	c.regCA = fs.String("registry-ca", env("WEIR_REGISTRY_CA"), "PEM file of the CA(s) that signed the registry's certificate (default: system roots) [WEIR_REGISTRY_CA]")
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
	if c.envErr != nil {
		return o, c.envErr
	}
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

	pass, err := secret(*c.saslPass, "WEIR_SASL_PASSWORD", *c.saslPassFile, "-sasl-password")
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

	regPass, err := secret(*c.regPass, "WEIR_REGISTRY_PASSWORD", *c.regPassFile, "-registry-password")
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

// secret is a password from its flag, its environment variable or its
// file (flag name + "-file"), at most one of them.
func secret(flagValue, envName, file, flagName string) (string, error) {
	v, env := flagValue, os.Getenv(envName)
	n := 0
	for _, s := range []string{flagValue, env, file} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return "", fmt.Errorf("give the password once: %s, %s or %s-file", flagName, envName, flagName)
	}
	if env != "" {
		v = env
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s-file: %w", flagName, err)
		}
		v = strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s-file %s is empty", flagName, file)
		}
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
