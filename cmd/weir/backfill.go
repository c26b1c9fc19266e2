package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/topology"
)

// backfillFlags are weir backfill's flags.
type backfillFlags struct {
	cluster                         *clusterFlags
	registry, pipeline, app, prefix string
	shadowApp, from, stateDir       string
	commit                          time.Duration
	promote, dryRun, verbose        bool
	allowPartial                    bool
	pipe                            *pipelineFlags
	fromTime                        time.Time
	every                           time.Duration // between progress lines when not on a terminal
}

func parseBackfillFlags(args []string, getenv func(string) string) (*backfillFlags, error) {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	f := &backfillFlags{every: 5 * time.Second}
	f.cluster = addClusterFlags(fs, getenv)
	fs.StringVar(&f.registry, "registry", getenv("WEIR_REGISTRY"), "schema registry URL (env WEIR_REGISTRY)")
	fs.StringVar(&f.pipeline, "pipeline", "profiles", "the application's pipeline: profiles or views")
	fs.StringVar(&f.app, "app", "", "the live application id (default: weir-<pipeline>)")
	fs.StringVar(&f.prefix, "topic-prefix", "", "the prefix of the application's topic names, as weir run was given")
	fs.StringVar(&f.shadowApp, "shadow-app", "", "the backfill's application id: its consumer group and internal topics, and the prefix of its outputs (default: <app>-backfill)")
	fs.StringVar(&f.from, "from", "", "read the inputs from the first record at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z); default: the earliest. Only for a backfill that has not started")
	fs.StringVar(&f.stateDir, "state-dir", "", "local state directory, as weir run's (default $TMPDIR/weir); -promote removes the live application's there")
	fs.DurationVar(&f.commit, "commit-interval", time.Second, "how often the backfill commits")
	fs.BoolVar(&f.promote, "promote", false, "make the stopped backfill's state and outputs the live application's (stop the live workers first)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "with -promote: print every action and change nothing")
	fs.BoolVar(&f.allowPartial, "allow-partial", false, "with -promote: promote a backfill that did not start at the inputs' first records (-from, or records deleted by retention); its state lacks what came before")
	fs.BoolVar(&f.verbose, "v", false, "log the worker at info level (default: warnings)")
	f.pipe = addPipelineFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("backfill: unexpected argument %q: weir backfill takes only flags", fs.Arg(0))
	}
	if f.app == "" {
		f.app = defaultAppID(f.pipeline)
	}
	if f.shadowApp == "" {
		f.shadowApp = f.app + "-backfill"
	}
	if f.from != "" {
		t, err := time.Parse(time.RFC3339, f.from)
		if err != nil {
			return nil, fmt.Errorf("backfill: -from %q: want RFC 3339, e.g. 2026-12-01T00:00:00Z", f.from)
		}
		f.fromTime = t
	}
	if f.dryRun && !f.promote {
		return nil, errors.New("backfill: -dry-run goes with -promote (a backfill deletes nothing)")
	}
	return f, nil
}

// shadowOutput names the shadow of a live output topic.
func (f *backfillFlags) shadowOutput(live string) string { return f.shadowApp + "-" + live }

// pipelineBuilder builds the pipeline's topology under an application id,
// its outputs named by output, and the version readers of its versioned
// outputs (by name).
type pipelineBuilder func(ctx context.Context, app string, output func(string) string) (*topology.Topology, map[string]processor.VersionFunc, error)

// runBackfill rebuilds an application's state and outputs from history
// under a shadow application id while the live workers go on, or, with
// -promote, switches the application over to it.
func runBackfill(ctx context.Context, args []string, out io.Writer) error {
	f, err := parseBackfillFlags(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	co, err := f.cluster.conn.options()
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	// The promote needs the registry too: it reads the outputs' versions.
	registry := f.registry
	if registry == "" {
		return errors.New("backfill: -registry (or WEIR_REGISTRY) is required")
	}
	build := func(ctx context.Context, app string, output func(string) string) (*topology.Topology, map[string]processor.VersionFunc, error) {
		pf := *f.pipe
		if output != nil {
			// The shadow outputs' subjects are new: register the same
			// schemas under them (a schema has one id in every subject).
			pf.autoRegister = true
		}
		return buildPipeline(ctx, f.pipeline, app, f.prefix, registry, &pf, output, co.registry...)
	}
	return backfillWith(ctx, f, build, out)
}

func backfillWith(ctx context.Context, f *backfillFlags, build pipelineBuilder, out io.Writer) error {
	opts, err := f.cluster.options("backfill")
	if err != nil {
		return err
	}
	live, versions, err := build(ctx, f.app, nil)
	if err != nil {
		return err
	}
	shadow, _, err := build(ctx, f.shadowApp, f.shadowOutput)
	if err != nil {
		return err
	}
	b := processor.Backfill{Live: live, Shadow: shadow, Outputs: map[string]string{}, Versions: versions, AllowPartial: f.allowPartial}
	for _, s := range live.Subtopologies() {
		for _, sink := range s.Sinks {
			if !sink.Internal {
				b.Outputs[f.shadowOutput(sink.Topic)] = sink.Topic
			}
		}
	}
	if f.promote {
		return promoteBackfill(ctx, f, b, out, opts)
	}

	log, err := newLogger(f.verbose)
	if err != nil {
		return err
	}
	defer log.Sync()
	if !f.verbose {
		log = log.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
	}
	opts = append(opts, processor.Logger(log), processor.CommitInterval(f.commit))
	if f.stateDir != "" {
		opts = append(opts, processor.StateDir(f.stateDir))
	}
	var outs []string
	for _, s := range slices.Sorted(maps.Keys(b.Outputs)) {
		outs = append(outs, b.Outputs[s]+" -> "+s)
	}
	from := "the earliest record"
	if !f.fromTime.IsZero() {
		from = f.fromTime.Format(time.RFC3339)
	}
	fmt.Fprintf(out, "backfill: %s runs as %s from %s (or where it stopped), outputs %s\n", f.app, f.shadowApp, from, strings.Join(outs, ", "))
	show := backfillProgress(out, f.app, f.every, out == io.Writer(os.Stdout) && term.IsTerminal(int(os.Stderr.Fd())))
	err = b.Run(ctx, f.fromTime, show, opts...)
	if err == nil {
		fmt.Fprintf(out, "backfill: stopped; run it again to go on, or promote it: weir backfill -promote (with the live workers stopped)\n")
	}
	return err
}

// backfillProgress shows a backfill's progress: a bar when stderr is a
// terminal, else a line every so often; "caught up" once, either way.
func backfillProgress(out io.Writer, app string, every time.Duration, bar bool) func(processor.BackfillProgress) {
	var pb *progressbar.ProgressBar
	var last time.Time
	return func(p processor.BackfillProgress) {
		if bar && !p.CaughtUp {
			if pb == nil {
				pb = progressbar.NewOptions64(max(p.Target, 1), progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("backfilling"), progressbar.OptionShowCount(),
					progressbar.OptionShowIts(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
			}
			pb.Set64(min(p.Records, max(p.Target, 1)))
		}
		if p.JustCaughtUp {
			if pb != nil {
				pb.Finish()
			}
			fmt.Fprintf(out, "backfill: caught up: %d records, the inputs' ends as of the start; following new records until stopped\n", p.Records)
			fmt.Fprintf(out, "backfill: to switch over: stop the live workers of %s, wait for lag 0 here, stop this, then weir backfill -promote\n", app)
			last = time.Now()
			return
		}
		if bar && !p.CaughtUp || time.Since(last) < every {
			return
		}
		last = time.Now()
		var lag int64
		var lagging []string
		for _, pl := range p.Partitions {
			lag += pl.Lag
			if pl.Lag > 0 {
				lagging = append(lagging, fmt.Sprintf("%s/%d %d", pl.Topic, pl.Partition, pl.Lag))
			}
		}
		if len(lagging) > 6 {
			lagging = append(lagging[:6], fmt.Sprintf("... %d more", len(lagging)-6))
		}
		line := fmt.Sprintf("backfill: %d records", p.Records)
		if !p.CaughtUp && p.Target > 0 {
			line += fmt.Sprintf(" of %d (%.0f%%)", p.Target, 100*float64(p.Records)/float64(p.Target))
		}
		line += fmt.Sprintf(", %.0f/s", p.Rate)
		if p.ETA > 0 {
			line += fmt.Sprintf(", ETA %v", p.ETA.Round(time.Second))
		}
		line += fmt.Sprintf(", lag %d", lag)
		if len(lagging) > 0 {
			line += " (" + strings.Join(lagging, ", ") + ")"
		}
		fmt.Fprintln(out, line)
	}
}

// promoteBackfill plans the promote, prints it, and carries it out
// unless -dry-run.
func promoteBackfill(ctx context.Context, f *backfillFlags, b processor.Backfill, out io.Writer, opts []processor.Opt) error {
	plan, err := b.PlanPromote(ctx, f.stateDir, opts...)
	if err != nil {
		return err
	}
	fmt.Fprint(out, plan)
	if f.dryRun {
		fmt.Fprintln(out, "promote: dry run, nothing changed")
		return nil
	}
	if err := processor.Promote(ctx, plan, func(s string) { fmt.Fprintln(out, "promote:", s) }, opts...); err != nil {
		return err
	}
	fmt.Fprintf(out, "promote: done; start the live workers of %s with the new code: they restore the backfill's state and go on from its offsets. the backfill's topics (%s-*) can go when no longer wanted\n",
		plan.LiveApp, plan.ShadowApp)
	return nil
}
