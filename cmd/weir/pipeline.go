package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
)

// pipelineFlags configure the pipeline weir run runs (besides -pipeline,
// -app and -topic-prefix).
type pipelineFlags struct {
	autoRegister  bool
	keyFormat     string
	maxFutureSkew time.Duration
	erasures      bool
	inactiveTTL   time.Duration
}

func addPipelineFlags(fs *flag.FlagSet) *pipelineFlags {
	p := &pipelineFlags{}
	fs.BoolVar(&p.autoRegister, "auto-register", false, "register the output schemas in the registry; without it they must be registered before start (start-up checks)")
	fs.StringVar(&p.keyFormat, "key-format", string(profile.KeyString), "profiles: key format of the input topics: string (UTF-8 customer ids) or avro (Confluent-framed Avro strings)")
	fs.DurationVar(&p.maxFutureSkew, "max-future-skew", profile.Grace, "profiles: clamp event times further ahead of the record timestamp to it (0: the default); negative: no bound")
	fs.BoolVar(&p.erasures, "erasures", false, "profiles: apply erasure requests from the erasures topic (co-partitioned with the inputs), audited on erasure_audit; with -http, DELETE /v1/profiles/{id} submits them")
	fs.DurationVar(&p.inactiveTTL, "inactive-ttl", 0, "profiles: forget a customer with no event for this long in event time (its profile is deleted, with a changelog tombstone; a returning customer starts a new profile with a higher version); 0 keeps profiles forever")
	return p
}

// defaultAppID is the application id (consumer group) of a pipeline when
// -app is not given.
func defaultAppID(pipeline string) string { return "weir-" + pipeline }

// pipelineTopology builds the topology that weir run runs. Without
// -auto-register it first checks that the registry has the schema of
// every output subject, so a missing one fails start-up, not the first
// commit.
func pipelineTopology(ctx context.Context, pipeline, app, prefix, registry string, pf *pipelineFlags, regOpts ...avro.HTTPClientOpt) (*topology.Topology, error) {
	topo, _, err := buildPipeline(ctx, pipeline, app, prefix, registry, pf, nil, regOpts...)
	return topo, err
}

// buildPipeline is pipelineTopology with each output topic named by
// output (nil: as they are; weir backfill writes to shadow outputs), and
// says how to read the version of each versioned output's records (the
// profile updates) by its name.
func buildPipeline(ctx context.Context, pipeline, app, prefix, registry string, pf *pipelineFlags, output func(string) string, regOpts ...avro.HTTPClientOpt) (*topology.Topology, map[string]processor.VersionFunc, error) {
	if output == nil {
		output = func(s string) string { return s }
	}
	if app == "" {
		app = defaultAppID(pipeline)
	}
	var opts []avro.Opt
	if pf.autoRegister {
		opts = append(opts, avro.AutoRegister())
	}
	switch pipeline {
	case "views":
		if pf.keyFormat != string(profile.KeyString) {
			return nil, nil, fmt.Errorf("-key-format %q: only -pipeline profiles reads other key formats", pf.keyFormat)
		}
		if pf.inactiveTTL != 0 {
			return nil, nil, fmt.Errorf("-inactive-ttl %v: only -pipeline profiles forgets inactive customers", pf.inactiveTTL)
		}
		// Its outputs are JSON and int64: no subject to check.
		serdes, err := demo.NewSerdesClient(registry, regOpts, opts...)
		if err != nil {
			return nil, nil, err
		}
		tp := demo.TopicsWithPrefix(prefix)
		tp.Enriched, tp.Counts = output(tp.Enriched), output(tp.Counts)
		topo, err := demo.Topology(app, tp, serdes)
		return topo, nil, err
	case "profiles":
		cfg, err := profilesConfig(ctx, app, prefix, registry, pf, output, regOpts...)
		if err != nil {
			return nil, nil, err
		}
		topo, err := profile.Topology(cfg)
		return topo, map[string]processor.VersionFunc{cfg.Topics.Updates: updateVersion(cfg.Serdes.Update, cfg.Topics.Updates)}, err
	}
	return nil, nil, fmt.Errorf("-pipeline %q: use views or profiles", pipeline)
}

// profilesConfig is the profiles pipeline's configuration from the flags,
// its output subjects checked as pipelineTopology says, each output named
// by output (nil: as they are).
func profilesConfig(ctx context.Context, app, prefix, registry string, pf *pipelineFlags, output func(string) string, regOpts ...avro.HTTPClientOpt) (profile.Config, error) {
	if output == nil {
		output = func(s string) string { return s }
	}
	if pf.keyFormat != string(profile.KeyString) && pf.keyFormat != string(profile.KeyAvro) {
		return profile.Config{}, fmt.Errorf("-key-format %q: use string or avro", pf.keyFormat)
	}
	var opts []avro.Opt
	if pf.autoRegister {
		opts = append(opts, avro.AutoRegister())
	}
	rc, err := avro.NewHTTPRegistryClient(registry, regOpts...)
	if err != nil {
		return profile.Config{}, err
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		return profile.Config{}, err
	}
	serdes, err := profile.AvroSerdes(reg, opts...)
	if err != nil {
		return profile.Config{}, err
	}
	tp := profile.PrefixedTopics(prefix)
	tp.Updates, tp.Triggers = output(tp.Updates), output(tp.Triggers)
	outputs := map[string]any{tp.Updates: serdes.Update, tp.Triggers: serdes.Trigger}
	if pf.erasures {
		tp = tp.WithErasures(prefix)
		tp.ErasureAudit = output(tp.ErasureAudit)
		// Weir writes the requests too (DELETE /v1/profiles/{id}, weir erase).
		outputs[tp.ErasureAudit], outputs[tp.Erasures] = serdes.Audit, serdes.Erasure
	}
	if !pf.autoRegister {
		if err := checkSubjects(ctx, rc, registry, outputs); err != nil {
			return profile.Config{}, err
		}
	}
	return profile.Config{AppID: app, Topics: tp, Serdes: serdes, BadInput: topology.DeadLetter,
		KeyFormat: profile.KeyFormat(pf.keyFormat), MaxFutureSkew: pf.maxFutureSkew, InactiveTTL: pf.inactiveTTL}, nil
}

// checkSubjects checks that the registry has, under the subject each
// output topic's serde encodes with, exactly that serde's schema: what
// encoding without auto-registration needs.
func checkSubjects(ctx context.Context, rc avro.RegistryClient, url string, outputs map[string]any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	type registered interface {
		Subject(topic string) string
		Schema() string
	}
	var missing []string
	for _, topic := range sortedKeys(outputs) {
		s, ok := outputs[topic].(registered)
		if !ok {
			continue // not registry-backed
		}
		subject := s.Subject(topic)
		_, err := rc.LookupID(ctx, subject, s.Schema())
		switch {
		case errors.Is(err, codec.ErrNotRegistered):
			missing = append(missing, fmt.Sprintf("%q (output topic %s)", subject, topic))
		case err != nil:
			return fmt.Errorf("run: schema registry %s: looking up subject %q: %w", url, subject, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("run: the schema registry %s does not have the output schemas under subjects %s: register them (the schemas are in events/schemas), or pass -auto-register to let weir register them",
			url, strings.Join(missing, ", "))
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// updateVersion reads the version of a profile update: what a consumer
// compares (version > stored) and weir backfill -promote too.
func updateVersion(serde codec.Serde[events.ProfileUpdate], topic string) processor.VersionFunc {
	return func(_, value []byte) (int64, bool, error) {
		if value == nil {
			return 0, false, nil
		}
		u, err := serde.Decode(topic, value)
		if err != nil {
			return 0, false, err
		}
		return u.Version, true, nil
	}
}
