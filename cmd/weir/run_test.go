package main

import (
	"context"
	"strings"
	"testing"
)

// TestParallelismFlagMistake: a negative -parallelism stops weir run at
// start-up with a message naming the flag.
func TestParallelismFlagMistake(t *testing.T) {
	err := runWorker(context.Background(), []string{"-brokers", "127.0.0.1:1", "-registry", "http://127.0.0.1:1", "-parallelism", "-2"})
	if err == nil || !strings.Contains(err.Error(), "-parallelism -2") || !strings.Contains(err.Error(), "at least 1") {
		t.Errorf("error %v, want one naming -parallelism -2 and what to give", err)
	}
}
