package topology_test

import (
	"os/exec"
	"strings"
	"testing"
)

// topology does no I/O and names no logging library: nothing it builds
// on may import zap, nor net/http. Until the Avro serde and registry
// client leave package codec (issue 11, "Codec boundary"), codec itself
// is allowed net/http and zap; drop that exception once they have.
func TestTopologyDependsOnNoLoggerOrHTTP(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}:{{join .Imports " "}}`,
		"github.com/weirstream/weir/topology", "github.com/weirstream/weir/topology/topologytest").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{"github.com/weirstream/weir/codec": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		if !strings.HasPrefix(pkg, "github.com/weirstream/weir") || allowed[pkg] {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if imp == "net/http" || strings.HasPrefix(imp, "go.uber.org/zap") {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}
