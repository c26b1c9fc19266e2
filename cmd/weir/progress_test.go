package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestRestoreProgressLogs: off a terminal, a restore logs "restoring
// state" with restored, remaining, rate and ETA at most every 5 s of the
// (fake) clock, then "state restored"; the lines scripts parse stay.
func TestRestoreProgressLogs(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	var out bytes.Buffer
	p := newProgress(&out, &restoreLog{log: zap.New(core), every: 5 * time.Second})
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }

	p.Restored("app-store-changelog", 0, 0, 10000)
	p.Restored("app-store-changelog", 1, 0, 5000)
	now = now.Add(4 * time.Second)
	p.Restored("app-store-changelog", 0, 4000, 6000) // within 5 s: no line
	now = now.Add(1 * time.Second)
	p.Restored("app-store-changelog", 1, 1000, 4000) // 5000 in 5 s, 10000 left
	now = now.Add(5 * time.Second)
	p.Restored("app-store-changelog", 0, 10000, 0) // 5 s on, 4000 left: a line
	p.Restored("app-store-changelog", 1, 5000, 0)  // all done

	var lines []string
	for _, e := range logs.All() {
		f := e.ContextMap()
		lines = append(lines, e.Message)
		switch {
		case e.Message == "restoring state" && len(lines) == 2:
			if f["restored"] != int64(5000) || f["remaining"] != int64(10000) || f["records/s"] != "1000" || f["eta"] != "10s" {
				t.Errorf("second line's fields %v: want restored 5000, remaining 10000, records/s 1000, eta 10s", f)
			}
		case e.Message == "state restored":
			if f["records"] != int64(15000) || f["records/s"] != "1500" {
				t.Errorf("last line's fields %v: want records 15000, records/s 1500", f)
			}
		}
	}
	if want := []string{"restoring state", "restoring state", "restoring state", "state restored"}; strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("logged %q, want %q", lines, want)
	}
	p.final()
	if !strings.Contains(out.String(), "weir: restored 15000 records\n") {
		t.Errorf("stdout %q lacks the line scripts parse: weir: restored 15000 records", out.String())
	}
}

// A partition restored again (its task came back) starts its count at 0:
// the total scripts read goes on growing instead of dropping.
func TestRestoredTotalGrowsAcrossReplays(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, nil)
	p.Restored("cl", 0, 300, 0)
	p.Restored("cl", 0, 0, 50) // the same partition, replayed again
	p.Restored("cl", 0, 50, 0)
	p.final()
	if got := out.String(); !strings.HasSuffix(got, "weir: restored 350 records\n") {
		t.Fatalf("output %q, want it to end with 350 records restored", got)
	}
}
