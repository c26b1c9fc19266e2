package collect

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/processor"
	"go.uber.org/zap"
)

// ErrConfig marks a configuration mistake found by New.
var ErrConfig = errors.New("collect: configuration")

// Options configure a Collector. Zero values take the defaults written
// beside each field.
type Options struct {
	// Kafka says how to reach the cluster: processor.SeedBrokers, TLS,
	// SASL, ClientID, KafkaOpts. Required (at least the brokers).
	Kafka []processor.Opt
	// Registry holds the schemas events are checked against. Required.
	Registry *avro.Registry
	// Routes maps event types to topics. Default: DefaultRoutes("").
	Routes []Route
	// WriteKeys maps each accepted write key to the site it belongs to.
	// Required: a request without a known key gets 401.
	WriteKeys map[string]string
	// AllowedOrigins are the browser origins (scheme://host[:port]) that
	// may send events; "*" allows any. Requests without an Origin header
	// (servers, apps) are always allowed. Default: none.
	AllowedOrigins []string
	// TransactionalID names the collector's Kafka producers: producer i
	// is TransactionalID-i. Two running collectors must not share one:
	// the newer fences the older. Default: "weir-collector-" + the host
	// name.
	TransactionalID string
	// Producers is how many transactional producers write at once: while
	// one commits, the next takes the requests that arrive. Default 4.
	Producers int

	// MaxBatchEvents bounds the events of one request. Default 500.
	MaxBatchEvents int
	// MaxBodyBytes bounds a request body. Default 512 KiB.
	MaxBodyBytes int64
	// MaxPendingEvents bounds the events accepted for writing and not yet
	// committed; past it requests get 429. Default 20,000.
	MaxPendingEvents int
	// AckTimeout bounds how long a round of requests waits for its
	// transaction; past it they get 503. Default 10s.
	AckTimeout time.Duration
	// DedupWindow is how long an acknowledged id is remembered, so that a
	// retry of it writes nothing. Default 1h.
	DedupWindow time.Duration
	// DedupMaxIDs bounds the ids remembered; the oldest go first. Default
	// 1,000,000 (about 100 MB).
	DedupMaxIDs int
	// RatePerClient is the events per second one client (site and IP
	// address) may send, with bursts of RateBurst. Default 200 and 1,000.
	RatePerClient float64
	RateBurst     int
	// TrustForwardedFor takes the client's address from the first
	// X-Forwarded-For entry, for a collector behind a proxy. Default off.
	TrustForwardedFor bool
	// MaxEventAge is how far back an event's time may lie; older times
	// are clamped to it (see eventTime). Default 7 days, so an offline
	// queue of a week keeps its times.
	MaxEventAge time.Duration
	// SchemaRefresh is how often a route's latest schema is looked up
	// again, so a new version is used without a restart. Default 1 min.
	SchemaRefresh time.Duration

	// Logger; default none.
	Logger *zap.Logger
	// Metrics registers the collector's metrics (weir_collector_*).
	// Default: none.
	Metrics prometheus.Registerer
}

func (o Options) withDefaults() (Options, error) {
	if len(o.Routes) == 0 {
		o.Routes = DefaultRoutes("")
	}
	if o.TransactionalID == "" {
		host, _ := os.Hostname()
		o.TransactionalID = "weir-collector-" + host
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxBatchEvents, 500)
	def(&o.Producers, 4)
	def(&o.MaxPendingEvents, 20000)
	def(&o.DedupMaxIDs, 1_000_000)
	def(&o.RateBurst, 1000)
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defD(&o.AckTimeout, 10*time.Second)
	defD(&o.DedupWindow, time.Hour)
	defD(&o.MaxEventAge, 7*24*time.Hour)
	defD(&o.SchemaRefresh, time.Minute)
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 512 << 10
	}
	if o.RatePerClient == 0 {
		o.RatePerClient = 200
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}

	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...))
	}
	if o.Registry == nil {
		bad("no schema registry: set Options.Registry (weir collect -registry)")
	}
	if len(o.WriteKeys) == 0 {
		bad("no write keys: set Options.WriteKeys (weir collect -write-keys site=key)")
	}
	for k, site := range o.WriteKeys {
		if strings.TrimSpace(k) == "" || len(k) < 8 {
			bad("write key of site %q is shorter than 8 characters", site)
		}
	}
	for _, origin := range o.AllowedOrigins {
		if origin != "*" && (!strings.Contains(origin, "://") || strings.HasSuffix(origin, "/")) {
			bad("allowed origin %q: write scheme://host[:port] with no path, or *", origin)
		}
	}
	seen := map[string]bool{}
	for _, r := range o.Routes {
		if r.Type == "" || r.Topic == "" {
			bad("route %+v: needs a Type and a Topic", r)
		}
		if seen[r.Type] {
			bad("event type %q routed twice", r.Type)
		}
		seen[r.Type] = true
	}
	if o.Producers < 1 || o.Producers > 64 {
		bad("Producers %d: use 1 to 64 (default 4)", o.Producers)
	}
	if o.MaxBatchEvents < 0 || o.MaxPendingEvents < 0 || o.DedupMaxIDs < 0 || o.RateBurst < 0 || o.MaxBodyBytes < 0 || o.RatePerClient < 0 {
		bad("limits must not be negative")
	}
	if o.MaxPendingEvents < o.MaxBatchEvents {
		bad("MaxPendingEvents %d is below MaxBatchEvents %d: no batch could ever be taken", o.MaxPendingEvents, o.MaxBatchEvents)
	}
	if o.RateBurst < o.MaxBatchEvents {
		bad("RateBurst %d is below MaxBatchEvents %d: a full batch would always be refused", o.RateBurst, o.MaxBatchEvents)
	}
	if o.AckTimeout < 0 || o.DedupWindow < 0 || o.MaxEventAge < 0 || o.SchemaRefresh < 0 {
		bad("durations must not be negative")
	}
	return o, errors.Join(errs...)
}
