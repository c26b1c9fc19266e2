package processor

import (
	"errors"
	"log/slog"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// The topology core logs through slog; a worker's lines must still reach
// its zap logger with the logger's name, fields and level.
func TestSlogBridgeKeepsNameFieldsAndLevel(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l := slogFrom(zap.New(core).Named("worker").With(zap.String("task", "0_1")))
	l.Debug("dropped: below the zap level")
	l.Warn("bad record", slog.String("topic", "in"), slog.Any("error", errors.New("boom")))
	es := logs.AllUntimed()
	if len(es) != 1 {
		t.Fatalf("%d entries, want 1: %v", len(es), es)
	}
	e := es[0]
	if e.Message != "bad record" || e.Level != zapcore.WarnLevel || e.LoggerName != "worker" {
		t.Fatalf("entry %+v", e.Entry)
	}
	got := e.ContextMap()
	if got["task"] != "0_1" || got["topic"] != "in" || got["error"] == nil {
		t.Fatalf("fields %v", got)
	}
}
