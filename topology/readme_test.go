package topology_test

import (
	"os"
	"strings"
	"testing"
)

// The README's "Writing a topology" must quote compiled code: every Go
// block there must appear, verbatim but for one level of indentation, in
// example_topology_test.go (the bodies of buildShop and testShop).
func TestREADMEQuotesCompiledCode(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	must(t, err)
	src, err := os.ReadFile("example_topology_test.go")
	must(t, err)
	section := string(readme)
	i := strings.Index(section, "\n## Writing a topology\n")
	if i < 0 {
		t.Fatal(`README has no "## Writing a topology" section`)
	}
	section = section[i+1:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	// The example file, one tab of indentation removed from every line.
	lines := strings.Split(string(src), "\n")
	for k, l := range lines {
		lines[k] = strings.TrimPrefix(l, "\t")
	}
	example := strings.Join(lines, "\n")
	blocks := 0
	for {
		start := strings.Index(section, "```go\n")
		if start < 0 {
			break
		}
		section = section[start+len("```go\n"):]
		end := strings.Index(section, "```")
		if end < 0 {
			t.Fatal("unterminated Go block in the README")
		}
		block := section[:end]
		section = section[end+3:]
		blocks++
		if !strings.Contains(example, block) {
			t.Errorf("README Go block %d is not in example_topology_test.go (run by go test, so it compiles):\n%s", blocks, block)
		}
	}
	if blocks == 0 {
		t.Fatal("no Go blocks found in the README's Writing a topology section")
	}
}
