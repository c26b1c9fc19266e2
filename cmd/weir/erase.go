package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/serve"
	"github.com/weirstream/weir/topology"
)

// submitErasure returns what submits an erasure request of cfg's
// pipeline through p.
func submitErasure(cfg profile.Config, p *processor.Producer) func(context.Context, events.ErasureRequest) error {
	return func(ctx context.Context, r events.ErasureRequest) error {
		rec, err := profile.ErasureRecord(cfg, r)
		if err != nil {
			return err
		}
		return p.Send(ctx, rec)
	}
}

// eraseFlags are weir erase's flags.
type eraseFlags struct {
	cluster               *clusterFlags
	registry, app, prefix string
	pipe                  *pipelineFlags
	by, reason            string
	wait                  time.Duration
	dryRun                bool
	ids                   []string
	partitioner           processor.Partitioner
}

func parseEraseFlags(args []string, getenv func(string) string) (eraseFlags, error) {
	fs := flag.NewFlagSet("erase", flag.ContinueOnError)
	var f eraseFlags
	f.cluster = addClusterFlags(fs, getenv)
	fs.StringVar(&f.registry, "registry", getenv("WEIR_REGISTRY"), "schema registry URL (env WEIR_REGISTRY)")
	fs.StringVar(&f.app, "app", "", "application id, named in the output (default: weir-profiles)")
	fs.StringVar(&f.prefix, "topic-prefix", "", "the prefix of the application's topic names, as weir run was given")
	f.pipe = addPipelineFlags(fs)
	user := getenv("USER")
	if user == "" {
		user = "operator"
	}
	fs.StringVar(&f.by, "by", user, "who asks, recorded in the request and its audit record (default: $USER)")
	fs.StringVar(&f.reason, "reason", "", "why, recorded in the request and its audit record")
	fs.DurationVar(&f.wait, "wait", time.Minute, "wait this long for each request's audit record (the pipeline applied it); 0: do not wait")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the requests and change nothing")
	// A request must reach the partition holding the customer's state.
	fs.Var(&f.partitioner, "partitioner", "how the input topics' producers partition keys, as weir run was given it: murmur2 (Java clients) or crc32 (librdkafka's default)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: weir erase [flags] <customer id>...\n\nSubmits an erasure request per customer to the erasures topic of a profiles pipeline run with -erasures (registering the request schema if missing), and waits for their audit records.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	f.pipe.erasures = true
	// Weir's own request schema is registered if missing; the audit
	// records are only read (by the schema id they carry).
	f.pipe.autoRegister = true
	f.ids = fs.Args()
	switch {
	case len(f.ids) == 0:
		return f, errors.New("erase: give the customer ids to erase, e.g. weir erase -brokers … -registry … c-00042")
	case f.registry == "":
		return f, errors.New("erase: -registry (or WEIR_REGISTRY) is required")
	case f.wait < 0:
		return f, fmt.Errorf("erase: -wait %v: give a positive duration, or 0 not to wait", f.wait)
	}
	for _, id := range f.ids {
		if id == "" {
			return f, errors.New("erase: an empty customer id")
		}
	}
	return f, nil
}

// runErase submits erasure requests and waits for their audit records.
func runErase(ctx context.Context, args []string, out io.Writer) error {
	f, err := parseEraseFlags(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	opts, err := f.cluster.options("erase")
	if err != nil {
		return err
	}
	opts = append(opts, processor.InputPartitioner(f.partitioner))
	co, err := f.cluster.conn.options()
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	app := f.app
	if app == "" {
		app = defaultAppID("profiles")
	}
	cfg, err := profilesConfig(ctx, app, f.prefix, f.registry, f.pipe, nil, co.registry...)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	now := time.Now()
	reqs := make([]events.ErasureRequest, len(f.ids))
	recs := make([]topology.Output, len(f.ids))
	for i, id := range f.ids {
		reqs[i] = serve.NewErasureRequest(id, f.by, f.reason, now)
		if recs[i], err = profile.ErasureRecord(cfg, reqs[i]); err != nil {
			return fmt.Errorf("erase: %w", err)
		}
	}
	if f.dryRun {
		for _, r := range reqs {
			fmt.Fprintf(out, "would request erasure of %s on %s (request %s, by %q, everything of theirs up to %s)\n",
				r.CustomerID, cfg.Topics.Erasures, r.RequestID, r.RequestedBy, r.RequestedAt.Format(time.RFC3339Nano))
		}
		fmt.Fprintln(out, "dry run: nothing sent")
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	bad, err := processor.CheckTopics(cctx, []string{cfg.Topics.Erasures, cfg.Topics.ErasureAudit}, opts...)
	cancel()
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	for _, t := range []string{cfg.Topics.Erasures, cfg.Topics.ErasureAudit} {
		if bad[t] != nil {
			return fmt.Errorf("erase: topic %s: %w: create it co-partitioned with the inputs (erasures) and run the workers with -erasures", t, bad[t])
		}
	}
	// The audit records come after this: read from here.
	auditFrom, err := processor.StableOffsets(ctx, cfg.Topics.ErasureAudit, opts...)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	p, err := processor.NewProducer(opts...)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	defer p.Close()
	if err := p.Send(ctx, recs...); err != nil {
		return fmt.Errorf("erase: sending the requests to %s: %w", cfg.Topics.Erasures, err)
	}
	for _, r := range reqs {
		fmt.Fprintf(out, "requested erasure of %s (request %s)\n", r.CustomerID, r.RequestID)
	}
	if f.wait == 0 {
		return nil
	}
	return waitAudits(ctx, cfg, reqs, auditFrom, f.wait, out, opts)
}

// waitAudits reads the audit topic from the offsets from (nil: its
// start), each time what is new, until each request has its record.
func waitAudits(ctx context.Context, cfg profile.Config, reqs []events.ErasureRequest, from map[int32]int64, wait time.Duration, out io.Writer, opts []processor.Opt) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	pending := map[string]bool{}
	for _, r := range reqs {
		pending[r.RequestID] = true
	}
	for {
		next, err := processor.StableOffsets(ctx, cfg.Topics.ErasureAudit, opts...)
		if err == nil {
			err = processor.ReadToEndFrom(ctx, cfg.Topics.ErasureAudit, from, func(r processor.FollowedRecord) error {
				a, err := cfg.Serdes.Audit.Decode(r.Topic, r.Value)
				if err != nil || !pending[a.RequestID] {
					return nil // not ours, or not an audit record at all
				}
				delete(pending, a.RequestID)
				fmt.Fprintf(out, "erased %s: task %s deleted it from stores %s (tombstones in %s) and from outputs %s\n",
					a.CustomerID, a.Task, strings.Join(a.Stores, ", "), strings.Join(a.Changelogs, ", "), strings.Join(a.Outputs, ", "))
				return nil
			}, opts...)
		}
		if len(pending) == 0 {
			return nil
		}
		if ctx.Err() != nil || err != nil {
			return fmt.Errorf("erase: %d of %d requests not applied within -wait %v (is a worker running with -erasures?): %w",
				len(pending), len(reqs), wait, errors.Join(err, ctx.Err()))
		}
		from = next // what it read up to, at least: next time only what is newer
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond): // the audit topic has no event to wait on from here
		}
	}
}
