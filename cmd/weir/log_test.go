package main

import (
	"regexp"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

func TestLogTimesAreISO8601(t *testing.T) {
	enc := zapcore.NewConsoleEncoder(logEncoderConfig())
	at := time.Date(2026, 12, 2, 19, 4, 5, 123e6, time.UTC)
	buf, err := enc.EncodeEntry(zapcore.Entry{Level: zapcore.InfoLevel, Time: at, Message: "hello"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if !regexp.MustCompile(`^2026-12-02T19:04:05\.123[Z+]`).MatchString(line) {
		t.Fatalf("log line %q does not start with an ISO-8601 time", line)
	}
}
