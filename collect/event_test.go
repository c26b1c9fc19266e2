package collect

import (
	"testing"
	"time"
)

// The recorded event time: the client's, corrected by its clock's
// offset, clamped into [received - maxAge, received].
func TestEventTime(t *testing.T) {
	recv := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cases := []struct {
		name               string
		client, sent, want time.Time
	}{
		{"no time: the receive time", time.Time{}, time.Time{}, recv},
		{"as sent", recv.Add(-time.Minute), time.Time{}, recv.Add(-time.Minute)},
		{"clock 1 h fast, corrected by sent_at", recv.Add(time.Hour - time.Minute), recv.Add(time.Hour), recv.Add(-time.Minute)},
		{"queued offline 2 days, clock right", recv.Add(-2 * day), recv, recv.Add(-2 * day)},
		{"in the future: the receive time", recv.Add(time.Hour), time.Time{}, recv},
		{"older than max age: max age", recv.Add(-30 * day), time.Time{}, recv.Add(-7 * day)},
	}
	for _, c := range cases {
		if got := eventTime(c.client, c.sent, recv, 7*day); !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
