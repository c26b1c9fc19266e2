package processor

import (
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
)

// slogFrom gives package topology, which logs through log/slog, the
// worker's zap logger: same sink, level, name and fields.
func slogFrom(l *zap.Logger) *slog.Logger {
	return slog.New(zapslog.NewHandler(l.Core(), zapslog.WithName(l.Name())))
}
