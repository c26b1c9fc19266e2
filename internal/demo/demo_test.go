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

// TestDemoEndToEnd runs the demo pipeline with two workers and checks
// what Run itself verifies against the generator's tally: every human
// view copied once, every customer's count exact, every malformed record
// dead-lettered.
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
	if res.Copied != res.Humans || res.Humans == 0 || res.DeadLetters == 0 {
		t.Fatalf("seed %d: result %v", seed, res)
	}
	t.Log(res)
}
