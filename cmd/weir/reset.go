package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/weirstream/weir/processor"
)

// resetFlags are weir reset's flags.
type resetFlags struct {
	cluster               *clusterFlags
	pipeline, app, prefix string
	toDatetime            string
	byDuration            time.Duration
	stateDir              string
	dryRun                bool
	pipe                  *pipelineFlags
}

func parseResetFlags(args []string, getenv func(string) string) (resetFlags, processor.ResetTo, error) {
	fs := flag.NewFlagSet("reset", flag.ContinueOnError)
	var f resetFlags
	f.cluster = addClusterFlags(fs, getenv)
	fs.StringVar(&f.pipeline, "pipeline", "profiles", "the application's pipeline: profiles or views (its inputs and internal topics)")
	fs.StringVar(&f.app, "app", "", "application id (default: weir-<pipeline>)")
	fs.StringVar(&f.prefix, "topic-prefix", "", "the prefix of the application's topic names, as weir run was given")
	fs.StringVar(&f.toDatetime, "to-datetime", "", "move the input offsets to the first record at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z); default: the earliest record")
	fs.DurationVar(&f.byDuration, "by-duration", 0, "move the input offsets to the first record at or after now minus this (e.g. 2h); default: the earliest record")
	fs.StringVar(&f.stateDir, "state-dir", "", "the -state-dir the workers on this machine used (default: theirs, weir under the temporary directory); its application directory is removed")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print every action and change nothing")
	// The pipeline's own flags, as weir run was given them: -erasures and
	// -inactive-ttl add an input and stores (changelogs) to reset.
	f.pipe = addPipelineFlags(fs)
	if err := fs.Parse(args); err != nil {
		return f, processor.ResetTo{}, err
	}
	f.pipe.autoRegister = true // nothing is encoded: the registry is not asked
	var to processor.ResetTo
	switch {
	case f.toDatetime != "" && f.byDuration != 0:
		return f, to, errors.New("reset: give -to-datetime or -by-duration, not both")
	case f.byDuration < 0:
		return f, to, fmt.Errorf("reset: -by-duration %v: give a positive duration", f.byDuration)
	case f.byDuration > 0:
		to.Time = time.Now().Add(-f.byDuration)
	case f.toDatetime != "":
		t, err := time.Parse(time.RFC3339, f.toDatetime)
		if err != nil {
			return f, to, fmt.Errorf("reset: -to-datetime %q: want RFC 3339, e.g. 2026-12-01T00:00:00Z", f.toDatetime)
		}
		to.Time = t
	}
	return f, to, nil
}

// runReset resets an application like Kafka Streams' reset tool: input
// offsets back, internal topics deleted, local state removed; it refuses
// while a worker runs, and -dry-run only prints the plan.
func runReset(ctx context.Context, args []string, out io.Writer) error {
	f, to, err := parseResetFlags(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	opts, err := f.cluster.options("reset")
	if err != nil {
		return err
	}
	// The topology names the inputs and internal topics; nothing is
	// encoded, so the registry is not asked.
	topo, err := pipelineTopology(ctx, f.pipeline, f.app, f.prefix, "http://127.0.0.1:0", f.pipe)
	if err != nil {
		return err
	}
	plan, err := processor.PlanReset(ctx, topo, to, f.stateDir, opts...)
	if err != nil {
		return err
	}
	fmt.Fprint(out, plan)
	if f.dryRun {
		fmt.Fprintln(out, "reset: dry run, nothing changed")
		return nil
	}
	if err := processor.Reset(ctx, plan, func(s string) { fmt.Fprintln(out, "reset:", s) }, opts...); err != nil {
		return err
	}
	fmt.Fprintf(out, "reset: done; the next worker of %s reads its inputs from the new offsets\n", plan.AppID)
	return nil
}
