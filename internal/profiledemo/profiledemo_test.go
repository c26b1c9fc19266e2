package profiledemo_test

import (
	"context"
	"io"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/weirstream/weir/internal/kafkatest"
	"github.com/weirstream/weir/internal/profiledemo"
)

// TestProfilesEndToEnd runs the personalization application with two
// workers over seeded events with malformed records mixed in. Run checks
// the read_committed profile updates: versions strictly increase per
// customer and the last equals that customer's number of valid events;
// every malformed record is dead-lettered.
func TestProfilesEndToEnd(t *testing.T) {
	c := kafkatest.New(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	res, err := profiledemo.Run(context.Background(), profiledemo.Config{
		Brokers: c.Brokers, Registry: c.Registry,
		AppID: c.Name("app"), TopicPrefix: c.Name("") + ".",
		Seed: seed, Rate: 2000, Duration: 3 * time.Second, Customers: 300, BadShare: 0.01,
		Timeout: 90 * time.Second, Log: zaptest.NewLogger(t),
	}, io.Discard)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if res.Profiles == 0 || res.Updates == 0 || res.DeadLetters == 0 {
		t.Fatalf("seed %d: nothing happened: %v", seed, res)
	}
	t.Log(res)
}
