package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/weirstream/weir/processor"
)

// dlqFlags are weir dlq's flags.
type dlqFlags struct {
	cluster         *clusterFlags
	app, topic      string
	kinds, source   string
	verbose, dryRun bool
}

func parseDLQFlags(cmd string, args []string, getenv func(string) string) (dlqFlags, error) {
	fs := flag.NewFlagSet("dlq "+cmd, flag.ContinueOnError)
	var f dlqFlags
	f.cluster = addClusterFlags(fs, getenv)
	fs.StringVar(&f.app, "app", "weir-profiles", "application id: its dead letters are in <app>-dlq")
	fs.StringVar(&f.topic, "topic", "", "the dead-letter topic (default: <app>-dlq)")
	fs.StringVar(&f.kinds, "kind", "", "comma-separated error kinds to select (e.g. malformed,failed); default: all")
	fs.StringVar(&f.source, "source", "", "select the dead letters of this source topic only")
	if cmd == "list" {
		fs.BoolVar(&f.verbose, "v", false, "print every dead letter, not only the counts")
	} else {
		fs.BoolVar(&f.dryRun, "dry-run", false, "print what would be replayed and write nothing")
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if f.topic == "" {
		f.topic = f.app + "-dlq"
	}
	return f, nil
}

func (f dlqFlags) filter() processor.DeadLetterFilter {
	var kinds []string
	for _, k := range strings.Split(f.kinds, ",") {
		if k = strings.TrimSpace(k); k != "" {
			kinds = append(kinds, k)
		}
	}
	return processor.DeadLetterFilter{Kinds: kinds, Source: f.source}
}

// runDLQ lists the dead letters of an application by kind and source,
// or replays the selected ones to their source topics after a fix.
func runDLQ(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		return errors.New("dlq: use weir dlq list [flags] or weir dlq replay [flags]")
	}
	f, err := parseDLQFlags(args[0], args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	opts, err := f.cluster.options("dlq")
	if err != nil {
		return err
	}
	if args[0] == "list" || f.dryRun {
		return listDeadLetters(ctx, f, out, opts)
	}
	// The total first, for the progress shown: the selected ones waiting.
	waiting := 0
	filter := f.filter()
	if err := processor.ReadDeadLetters(ctx, f.topic, func(d processor.DeadLetter) error {
		if filter.Match(d) && !d.Replayed {
			waiting++
		}
		return nil
	}, opts...); err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	// A bar only for a person at a terminal reading stdout.
	show := replayProgress(out, waiting, out == io.Writer(os.Stdout) && term.IsTerminal(int(os.Stderr.Fd())))
	// One transactional id per dead-letter topic: a replay that died is
	// fenced by the next.
	res, err := processor.ReplayDeadLetters(ctx, f.topic, filter, "weir-dlq-replay-"+f.topic, func(r processor.ReplayResult) {
		show(r.Replayed)
	}, opts...)
	fmt.Fprintf(out, "dlq: %d replayed to their source topics, %d replayed before (skipped), %d not selected\n", res.Replayed, res.AlreadyBefore, res.NotSelected)
	if res.Unreplayable > 0 {
		fmt.Fprintf(out, "dlq: %d selected but not replayable (no weir.topic/weir.partition headers, or the source partition is gone); -kind and -source leave them out\n", res.Unreplayable)
	}
	return err
}

// listDeadLetters prints counts by kind and source topic (replayed or
// not), and with -v or -dry-run every selected dead letter.
func listDeadLetters(ctx context.Context, f dlqFlags, out io.Writer, opts []processor.Opt) error {
	type group struct{ kind, source string }
	counts := map[group][2]int{} // waiting, replayed
	filter := f.filter()
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	err := processor.ReadDeadLetters(ctx, f.topic, func(d processor.DeadLetter) error {
		if !filter.Match(d) {
			return nil
		}
		g := group{d.Kind, d.Source}
		c := counts[g]
		if d.Replayed {
			c[1]++
		} else {
			c[0]++
		}
		counts[g] = c
		if f.verbose || (f.dryRun && !d.Replayed) {
			state := "waiting"
			if d.Replayed {
				state = "replayed"
			}
			fmt.Fprintf(tw, "%d/%d\t%s\t%s/%d@%d\t%s\t%s\n", d.Partition, d.Offset, d.Kind, d.Source, d.SourcePartition, d.SourceOffset, state, d.Error)
		}
		return nil
	}, opts...)
	tw.Flush()
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	var gs []group
	for g := range counts {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].kind+gs[i].source < gs[j].kind+gs[j].source })
	fmt.Fprintf(tw, "KIND\tSOURCE\tWAITING\tREPLAYED\n")
	for _, g := range gs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", g.kind, g.source, counts[g][0], counts[g][1])
	}
	tw.Flush()
	if f.dryRun {
		fmt.Fprintln(out, "dlq: dry run, nothing replayed (the waiting ones above would be)")
	}
	return nil
}

// replayProgress shows replayed of total: a bar when stderr is a
// terminal, else a line per committed batch (logs, CI).
func replayProgress(out io.Writer, total int, bar bool) func(replayed int) {
	if bar && total > 0 {
		pb := progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("replaying dead letters"), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
		return func(n int) { pb.Set(n) }
	}
	return func(n int) { fmt.Fprintf(out, "dlq: replayed %d of %d\n", n, total) }
}
