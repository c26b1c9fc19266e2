package demo_test

import (
	"context"
	"io"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/internal/kafkatest"
)

// TestDemoEndToEnd runs the demo pipeline with two workers; Run checks
// every output against the workload's model: each human view enriched
// once with the right brand and segment, each window's count updated
// exactly 1..N, each malformed record dead-lettered.
func TestDemoEndToEnd(t *testing.T) {
	c := kafkatest.New(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	res, err := demo.Run(context.Background(), demo.Config{
		Brokers:     c.Brokers,
		Registry:    c.Registry,
		AppID:       c.Name("app"),
		TopicPrefix: c.Name("") + ".",
		Events:      5000,
		Customers:   200,
		Seed:        seed,
		BadShare:    0.02,
		Timeout:     90 * time.Second,
		Log:         zaptest.NewLogger(t),
	}, io.Discard)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if res.Enriched == 0 || res.Windows == 0 || res.DeadLetters == 0 {
		t.Fatalf("seed %d: result %v", seed, res)
	}
	t.Log(res)
}
