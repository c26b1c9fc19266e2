package topology_test

import (
	"os/exec"
	"strings"
	"testing"
)

// topology does no I/O and names no logging library: nothing it builds
// on, directly or not, may pull in HTTP, zap, the Kafka client or Pebble.
func TestTopologyDependsOnNoLoggerOrHTTP(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps",
		"github.com/weirstream/weir/topology", "github.com/weirstream/weir/topology/topologytest").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case pkg == "net/http",
			strings.HasPrefix(pkg, "go.uber.org/zap"),
			strings.HasPrefix(pkg, "github.com/twmb/franz-go"),
			strings.HasPrefix(pkg, "github.com/cockroachdb/pebble"):
			t.Errorf("topology depends on %s", pkg)
		}
	}
}
