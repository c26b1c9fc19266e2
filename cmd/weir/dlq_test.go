package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/kafkatest"
)

// weir dlq list counts dead letters by kind and source; replay -dry-run
// writes nothing; replay -kind sends the selected ones back to their
// source topic; a second replay sends nothing; list shows them replayed.
func TestDLQListAndReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.New(t)
	app, views, tickets := c.Name("app"), c.Name("views"), c.Name("tickets")
	dlq := app + "-dlq"
	for _, tp := range []string{views, tickets, dlq} {
		c.CreateTopic(ctx, tp, 2, nil)
	}
	// Dead letters as a worker writes them: 3 malformed views, 2 tickets a processor refused.
	var recs []*kgo.Record
	add := func(cause error, source string, p int32, off int64) {
		var hs []kgo.RecordHeader
		for _, h := range codec.DeadLetterHeaders(cause, source, p, off, time.Now()) {
			hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		recs = append(recs, &kgo.Record{Topic: dlq, Key: []byte("k"), Value: []byte("v"), Headers: hs})
	}
	for i := range 3 {
		add(fmt.Errorf("decode: %w", codec.ErrMalformed), views, int32(i%2), int64(i))
	}
	for i := range 2 {
		add(errString("refused by a processor"), tickets, 1, int64(i))
	}
	if err := c.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	base := []string{"-brokers", strings.Join(c.Brokers, ","), "-app", app}
	run := func(args ...string) string {
		t.Helper()
		var out strings.Builder
		if err := runDLQ(ctx, append(args, base...), &out); err != nil {
			t.Fatalf("weir dlq %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	countIn := func(topic string) int64 { // committed records, markers left out
		t.Helper()
		n, err := c.CountCommitted(ctx, map[string]map[int32]int64{topic: {0: 0, 1: 0}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// table reads list's table: kind and source -> waiting, replayed.
	table := func(out string) map[string]string {
		rows := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 4 && f[0] != "KIND" {
				rows[f[0]+" "+f[1]] = f[2] + " " + f[3]
			}
		}
		return rows
	}

	if rows := table(run("list")); rows["malformed "+views] != "3 0" || rows["other "+tickets] != "2 0" {
		t.Errorf("list: %v, want 3 malformed views and 2 other tickets waiting", rows)
	}
	if dry := run("replay", "-dry-run", "-kind", "malformed"); !strings.Contains(dry, "dry run") || countIn(views) != 0 {
		t.Fatalf("dry run wrote to %s or said nothing:\n%s", views, dry)
	}
	if got := run("replay", "-kind", "malformed"); !strings.Contains(got, "dlq: replayed 3 of 3") ||
		!strings.Contains(got, "3 replayed to their source topics, 0 replayed before (skipped), 2 not selected") {
		t.Fatalf("replay:\n%s", got)
	}
	if got := run("replay", "-kind", "malformed"); !strings.Contains(got, "0 replayed to their source topics, 3 replayed before (skipped)") {
		t.Fatalf("second replay:\n%s", got)
	}
	if n := countIn(views); n != 3 {
		t.Fatalf("%s holds %d records after two replays, want 3", views, n)
	}
	if n := countIn(tickets); n != 0 {
		t.Fatalf("%s got %d records; its dead letters were not selected", tickets, n)
	}
	if rows := table(run("list", "-kind", "malformed")); len(rows) != 1 || rows["malformed "+views] != "0 3" {
		t.Errorf("list -kind malformed after the replay: %v, want the 3 views replayed only", rows)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
