package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/weirstream/weir/processor"
)

// runFlags are weir run's flags. Each can also come from its WEIR_*
// variable or a key of the -config file (config.go).
type runFlags struct {
	config                string
	pipeline, brokers     string
	registry, app, prefix string
	stateDir, instance    string
	static, atLeastOnce   bool
	standbys, warmups     int
	lag                   int64
	commit, session       time.Duration
	verbose               bool
	parallelism           int
	pprofAddr             string
	partitioner           processor.Partitioner // how the input's producers place keys, so queries find them
	conn                  *connectFlags
	http                  httpFlags
	pipe                  *pipelineFlags
}

// newRunFlags defines weir run's flags on a fresh flag set.
func newRunFlags() (*flag.FlagSet, *runFlags) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	r := &runFlags{partitioner: processor.Murmur2}
	fs.StringVar(&r.config, configFlag, "", "read flag values from this YAML file (keys are flag names: brokers: a:9092); command-line flags and WEIR_* variables override it")
	fs.StringVar(&r.pipeline, "pipeline", "views", "which pipeline: views (enrichment and windowed counts) or profiles (the personalization app)")
	fs.StringVar(&r.brokers, "brokers", "", "comma-separated Kafka brokers (required; in the config file also a YAML list)")
	fs.StringVar(&r.registry, "registry", "", "schema registry URL (required)")
	fs.StringVar(&r.app, "app", "", "application id (the consumer group); default weir-<pipeline>")
	fs.StringVar(&r.prefix, "topic-prefix", "", "prefix of the demo's topic names")
	fs.StringVar(&r.stateDir, "state-dir", "", "local state directory (default $TMPDIR/weir)")
	fs.StringVar(&r.instance, "instance", "", "worker name, unique per running worker (default: host, pid, random)")
	fs.BoolVar(&r.static, "static", false, "join as a static group member with -instance as group.instance.id: restarted within the session timeout, the worker gets its tasks back without a rebalance; a stop does not leave the group")
	fs.IntVar(&r.standbys, "standbys", 0, "standby replicas per stateful task, kept warm by other workers (Kafka Streams' num.standby.replicas)")
	fs.IntVar(&r.warmups, "warmup-replicas", 2, "tasks at a time that warm up on a worker lacking their state before they move to it; 0 moves them at once")
	fs.Int64Var(&r.lag, "acceptable-lag", 10000, "changelog records a worker may lag behind and still take a task at once")
	fs.DurationVar(&r.commit, "commit-interval", 100*time.Millisecond, "how often to commit")
	fs.DurationVar(&r.session, "session-timeout", 45*time.Second, "how long the group waits for a silent worker")
	fs.BoolVar(&r.atLeastOnce, "at-least-once", false, "commit offsets after outputs instead of exactly-once transactions")
	fs.BoolVar(&r.verbose, "v", false, "log at debug level")
	fs.IntVar(&r.parallelism, "parallelism", 0, "goroutines that process this worker's tasks (default GOMAXPROCS)")
	fs.StringVar(&r.pprofAddr, "pprof", "", "serve net/http/pprof on this HOST:PORT (e.g. 127.0.0.1:6060), apart from the -http API; default off")
	fs.Var(&r.partitioner, "partitioner", "how the input topics' producers partition keys: murmur2 (Java clients) or crc32 (librdkafka's default: Python, C, .NET, confluent-kafka-go)")
	r.conn = addConnectFlags(fs) // TLS, SASL, client id, registry auth (connect.go)
	r.http.register(fs)
	r.pipe = addPipelineFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: weir run [flags]\n\nEvery flag can also be set by WEIR_<FLAG> (-state-dir: WEIR_STATE_DIR) or\nby a key of the -config YAML file; the command line wins over the\nenvironment, which wins over the file. docs/configuration.md lists them.\n\n")
		fs.PrintDefaults()
	}
	return fs, r
}

// parseRunFlags parses weir run's command line, then fills the flags it
// did not set from the environment and the config file.
func parseRunFlags(args []string, getenv func(string) string) (*runFlags, error) {
	fs, r := newRunFlags()
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("run: unexpected argument %q: weir run takes only flags", fs.Arg(0))
	}
	if err := applyConfig(fs, getenv); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	return r, nil
}

// splitList splits a comma-separated flag value, dropping the spaces a
// hand-written list tends to have (a:9092, b:9092).
func splitList(s string) []string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}
