package webhook

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/weirstream/weir/processor"
)

// TestNewRefusesMistakes: New fails with ErrConfig naming each mistake,
// before it connects to anything.
func TestNewRefusesMistakes(t *testing.T) {
	_, err := New(context.Background(), Options{
		Kafka: []processor.Opt{processor.SeedBrokers("127.0.0.1:1")},
		Endpoints: []Endpoint{
			{Type: "CART_ABANDONED", URL: "ftp://x", Secret: "0123456789abcdef"},
			{Type: "BIRTHDAY", URL: "http://x", Secret: "short"},
		},
		MaxAttempts: -1,
	})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("New = %v, want ErrConfig", err)
	}
	for _, want := range []string{"no trigger serde", "not an absolute http(s) URL", `unknown trigger type "BIRTHDAY"`, "secret is 5 bytes", "MaxAttempts -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}
