package webhook

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
	"go.uber.org/zap"
)

// ErrConfig marks a configuration mistake found by New.
var ErrConfig = errors.New("webhook: configuration")

// MinSecretBytes is the shortest endpoint secret accepted: a shorter HMAC
// key could be guessed.
const MinSecretBytes = 16

// Endpoint is where triggers of one type (or of all types) go.
type Endpoint struct {
	// Type is the trigger type sent here; "" sends every type.
	Type events.TriggerType
	// URL is the http or https address the triggers are POSTed to.
	URL string
	// Secret is the HMAC-SHA256 key of the X-Weir-Signature header, at
	// least MinSecretBytes long. Required.
	Secret string
}

func (e Endpoint) matches(t events.TriggerType) bool { return e.Type == "" || e.Type == t }

// Options configure a Deliverer. Zero values take the defaults written
// beside each field.
type Options struct {
	// Kafka says how to reach the cluster: processor.SeedBrokers, TLS,
	// SASL, ClientID, KafkaOpts. Required (at least the brokers).
	Kafka []processor.Opt
	// Topic holds the triggers. Default events.TopicTriggers
	// (profile.PrefixedTopics(prefix).Triggers with a prefix).
	Topic string
	// Group is the consumer group id; deliverers sharing it share the
	// partitions. Default "weir-webhooks".
	Group string
	// Serde decodes the triggers. Default: events.TriggerSerde(Registry).
	Serde codec.Serde[events.Trigger]
	// Registry builds the default Serde. Required unless Serde is set.
	Registry *avro.Registry
	// Endpoints say where each trigger type goes. Required.
	Endpoints []Endpoint
	// DeadLetterTopic receives what cannot be delivered; it must exist
	// at start. Default Topic + "-webhook-dlq".
	DeadLetterTopic string
	// MaxAttempts bounds the attempts of one delivery (the first
	// included) before it is dead-lettered. Default 8.
	MaxAttempts int
	// InitialBackoff and MaxBackoff bound the wait before a retry: a
	// random time up to InitialBackoff·2^(retry-1), at most MaxBackoff,
	// and never less than the endpoint's Retry-After. Default 500 ms and
	// 30 s.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// RequestTimeout bounds one HTTP attempt. Default 5 s.
	RequestTimeout time.Duration
	// MaxInFlight bounds the deliveries (attempts and waits for a retry)
	// under way at once; at the bound, fetching pauses. Default 64.
	MaxInFlight int
	// CommitInterval is how often finished offsets are committed.
	// Default 1 s.
	CommitInterval time.Duration
	// HTTPClient sends the requests. Default: a client that follows no
	// redirects (a redirected POST would turn into a GET).
	HTTPClient *http.Client
	// Logger; default none.
	Logger *zap.Logger
	// Metrics registers the weir_webhook_* series. Default: none.
	Metrics prometheus.Registerer

	// now and rand stand in for the clock and the jitter in tests.
	now  func() time.Time
	rand *rand.Rand
	// onCommit, if set, sees each committed offset (tests wait on it).
	onCommit func(topic string, partition int32, offset int64)
}

func (o Options) withDefaults() (Options, error) {
	if o.Topic == "" {
		o.Topic = events.TopicTriggers
	}
	if o.Group == "" {
		o.Group = "weir-webhooks"
	}
	if o.DeadLetterTopic == "" {
		o.DeadLetterTopic = o.Topic + "-webhook-dlq"
	}
	defI := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defI(&o.MaxAttempts, 8)
	defI(&o.MaxInFlight, 64)
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defD(&o.InitialBackoff, 500*time.Millisecond)
	defD(&o.MaxBackoff, 30*time.Second)
	defD(&o.RequestTimeout, 5*time.Second)
	defD(&o.CommitInterval, time.Second)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.rand == nil {
		o.rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}

	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...))
	}
	if len(o.Kafka) == 0 {
		bad("no Kafka connection: set Options.Kafka (at least processor.SeedBrokers; weir webhooks -brokers)")
	}
	if o.Serde == nil && o.Registry == nil {
		bad("no trigger serde: set Options.Serde or Options.Registry (weir webhooks -registry)")
	}
	if len(o.Endpoints) == 0 {
		bad("no endpoints: set Options.Endpoints (weir webhooks -endpoint TYPE=URL)")
	}
	if o.DeadLetterTopic == o.Topic {
		bad("DeadLetterTopic is the trigger topic %q: dead letters would be delivered again", o.Topic)
	}
	seen := map[Endpoint]bool{}
	for _, e := range o.Endpoints {
		errs = append(errs, e.check()...)
		k := Endpoint{Type: e.Type, URL: e.URL}
		if seen[k] {
			bad("endpoint %s for type %q given twice", e.URL, typeName(e.Type))
		}
		seen[k] = true
	}
	if o.MaxAttempts < 1 {
		bad("MaxAttempts %d: use at least 1 (default 8)", o.MaxAttempts)
	}
	if o.MaxInFlight < 1 {
		bad("MaxInFlight %d: use at least 1 (default 64)", o.MaxInFlight)
	}
	if o.InitialBackoff < 0 || o.MaxBackoff < 0 || o.RequestTimeout < 0 || o.CommitInterval < 0 {
		bad("durations must not be negative")
	}
	if o.MaxBackoff < o.InitialBackoff {
		bad("MaxBackoff %v is below InitialBackoff %v", o.MaxBackoff, o.InitialBackoff)
	}
	return o, errors.Join(errs...)
}

// check names what is wrong with an endpoint.
func (e Endpoint) check() []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: endpoint %q: "+format, append([]any{ErrConfig, e.URL}, a...)...))
	}
	switch e.Type {
	case "", events.CartAbandoned, events.AtRisk, events.HighIntent:
	default:
		bad("unknown trigger type %q: use %s, %s, %s or \"\" (weir webhooks: *) for all", e.Type, events.CartAbandoned, events.AtRisk, events.HighIntent)
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("not an absolute http(s) URL")
	}
	if len(e.Secret) < MinSecretBytes {
		bad("secret is %d bytes: use at least %d random bytes (weir webhooks -secret-file)", len(e.Secret), MinSecretBytes)
	}
	return errs
}

func typeName(t events.TriggerType) string {
	if t == "" {
		return "*"
	}
	return string(t)
}
