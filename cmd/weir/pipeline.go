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
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/topology"
)

// pipelineFlags configure the pipeline weir run runs (besides -pipeline,
// -app and -topic-prefix).
type pipelineFlags struct {
	autoRegister  bool
	keyFormat     string
	maxFutureSkew time.Duration
	inactiveTTL   time.Duration
}

func addPipelineFlags(fs *flag.FlagSet) *pipelineFlags {
	p := &pipelineFlags{}
	fs.BoolVar(&p.autoRegister, "auto-register", false, "register the output schemas in the registry; without it they must be registered before start (start-up checks)")
	fs.StringVar(&p.keyFormat, "key-format", string(profile.KeyString), "profiles: key format of the input topics: string (UTF-8 customer ids) or avro (Confluent-framed Avro strings)")
	fs.DurationVar(&p.maxFutureSkew, "max-future-skew", profile.Grace, "profiles: clamp event times further ahead of the record timestamp to it (0: the default); negative: no bound")
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
			return nil, fmt.Errorf("-key-format %q: only -pipeline profiles reads other key formats", pf.keyFormat)
		}
		if pf.inactiveTTL != 0 {
			return nil, fmt.Errorf("-inactive-ttl %v: only -pipeline profiles forgets inactive customers", pf.inactiveTTL)
		}
		// Its outputs are JSON and int64: no subject to check.
		serdes, err := demo.NewSerdesClient(registry, regOpts, opts...)
		if err != nil {
			return nil, err
		}
		return demo.Topology(app, demo.TopicsWithPrefix(prefix), serdes)
	case "profiles":
		rc, err := avro.NewHTTPRegistryClient(registry, regOpts...)
		if err != nil {
			return nil, err
		}
		reg, err := avro.NewRegistry(rc)
		if err != nil {
			return nil, err
		}
		serdes, err := profile.AvroSerdes(reg, opts...)
		if err != nil {
			return nil, err
		}
		tp := profile.PrefixedTopics(prefix)
		if !pf.autoRegister {
			if err := checkSubjects(ctx, rc, registry, map[string]any{tp.Updates: serdes.Update, tp.Triggers: serdes.Trigger}); err != nil {
				return nil, err
			}
		}
		topo, err := profile.Topology(profile.Config{AppID: app, Topics: tp, Serdes: serdes, BadInput: topology.DeadLetter,
			KeyFormat: profile.KeyFormat(pf.keyFormat), MaxFutureSkew: pf.maxFutureSkew, InactiveTTL: pf.inactiveTTL})
		if errors.Is(err, profile.ErrConfig) && pf.keyFormat != string(profile.KeyString) && pf.keyFormat != string(profile.KeyAvro) {
			return nil, fmt.Errorf("-key-format %q: use string or avro", pf.keyFormat)
		}
		return topo, err
	}
	return nil, fmt.Errorf("-pipeline %q: use views or profiles", pipeline)
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
