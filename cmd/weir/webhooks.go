package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/webhook"
)

// envWebhookSecret holds the endpoints' HMAC secret, kept out of ps.
const envWebhookSecret = "WEIR_WEBHOOK_SECRET"

// webhooksFlags are weir webhooks' flags.
type webhooksFlags struct {
	listen, brokers, registry, prefix, group string
	secret, secretFile                       string
	endpoints                                endpointList
	maxAttempts                              int
	verbose                                  bool
	conn                                     *connectFlags
}

// endpointList is -endpoint: TYPE=URL pairs, repeated or comma-separated.
type endpointList []string

func (l *endpointList) String() string { return strings.Join(*l, ",") }
func (l *endpointList) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// parseWebhooksFlags reads weir webhooks' flags, each also from its
// WEIR_* variable (getenv), and checks the required ones.
func parseWebhooksFlags(args []string, getenv func(string) string) (*webhooksFlags, error) {
	f := &webhooksFlags{}
	fs := flag.NewFlagSet("webhooks", flag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", ":8091", "address of /metrics and /healthz")
	fs.StringVar(&f.brokers, "brokers", "", "comma-separated Kafka brokers (required)")
	fs.StringVar(&f.registry, "registry", "", "schema registry URL (required)")
	fs.StringVar(&f.prefix, "topic-prefix", "", "prefix of the profiles pipeline's topic names (triggers: <prefix>profile_triggers)")
	fs.StringVar(&f.group, "group", "weir-webhooks", "consumer group id; deliverers sharing it share the triggers")
	fs.Var(&f.endpoints, "endpoint", "TYPE=URL: POST triggers of TYPE (CART_ABANDONED, AT_RISK, HIGH_INTENT, or * for all) to URL; repeatable or comma-separated (required)")
	fs.StringVar(&f.secret, "secret", "", "HMAC key of X-Weir-Signature, at least 16 bytes; visible in ps: prefer "+envWebhookSecret+" or -secret-file")
	fs.StringVar(&f.secretFile, "secret-file", "", "file holding the HMAC key")
	fs.IntVar(&f.maxAttempts, "max-attempts", 8, "attempts per delivery before it goes to the dead-letter topic")
	fs.BoolVar(&f.verbose, "v", false, "debug logging")
	f.conn = addConnectFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := applyConfig(fs, getenv); err != nil {
		return nil, err
	}
	if f.secret == "" && f.secretFile == "" {
		f.secret = getenv(envWebhookSecret)
	}
	if f.brokers == "" || f.registry == "" || len(f.endpoints) == 0 {
		return nil, errors.New("webhooks: -brokers, -registry and -endpoint are required")
	}
	return f, nil
}

// parseEndpoints reads TYPE=URL pairs; every endpoint gets secret.
func parseEndpoints(pairs []string, secret string) ([]webhook.Endpoint, error) {
	var out []webhook.Endpoint
	for _, p := range pairs {
		typ, url, ok := strings.Cut(p, "=")
		if !ok || typ == "" || url == "" {
			return nil, fmt.Errorf("-endpoint %q: write TYPE=URL (TYPE * for all)", p)
		}
		t := events.TriggerType(strings.ToUpper(strings.TrimSpace(typ)))
		if t == "*" {
			t = ""
		}
		out = append(out, webhook.Endpoint{Type: t, URL: strings.TrimSpace(url), Secret: secret})
	}
	return out, nil
}

// runWebhooks delivers triggers to HTTP endpoints (package webhook)
// until stopped.
func runWebhooks(ctx context.Context, args []string) error {
	f, err := parseWebhooksFlags(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	sec, err := secret(f.secret, f.secretFile, "-secret")
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	if sec == "" {
		return fmt.Errorf("webhooks: no secret: set %s or -secret-file", envWebhookSecret)
	}
	eps, err := parseEndpoints(f.endpoints, sec)
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	co, err := f.conn.options()
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	app, err := newSideApp(f.verbose, f.registry, co.registry)
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	defer app.log.Sync()
	d, err := webhook.New(ctx, webhook.Options{
		Kafka:    append(co.processor, processor.SeedBrokers(splitList(f.brokers)...)),
		Topic:    profile.PrefixedTopics(f.prefix).Triggers,
		Group:    f.group,
		Registry: app.reg, Endpoints: eps, MaxAttempts: f.maxAttempts,
		Logger: app.log, Metrics: app.prom,
	})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	defer d.Close()
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("webhooks: -listen: %w", err)
	}
	ctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- app.serve(ctx, ln, nil) }()
	app.log.Info("delivering triggers", zap.Int("endpoints", len(eps)), zap.String("metrics", ln.Addr().String()))
	err = d.Run(ctx)
	stop()
	return errors.Join(err, <-served)
}
