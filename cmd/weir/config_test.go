package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/processor"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "weir.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestConfigPrecedence: a flag on the command line beats its WEIR_*
// variable, which beats the config file, which beats the default.
func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, `
brokers: file:9092
state-dir: /from/file
instance: from-file
standbys: 1
`)
	f, err := parseRunFlags([]string{"-config", file, "-brokers", "flag:9092"}, envMap(map[string]string{
		"WEIR_BROKERS":   "env:9092",
		"WEIR_STATE_DIR": "/from/env",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"brokers (flag, env and file)", f.brokers, "flag:9092"},
		{"state-dir (env and file)", f.stateDir, "/from/env"},
		{"instance (file)", f.instance, "from-file"},
		{"pipeline (default)", f.pipeline, "views"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if f.standbys != 1 {
		t.Errorf("standbys from the file: %d, want 1", f.standbys)
	}
	if f.commit != 100*time.Millisecond {
		t.Errorf("commit-interval: %v, want the default 100ms", f.commit)
	}
}

// TestConfigFromEnv: WEIR_CONFIG names the file when -config is not
// given, and WEIR_* sets a bool flag.
func TestConfigFromEnv(t *testing.T) {
	file := writeConfig(t, "brokers: [a:9092, b:9092]\nstatic: false\n")
	f, err := parseRunFlags(nil, envMap(map[string]string{
		"WEIR_CONFIG": file, "WEIR_STATIC": "true", "WEIR_PARTITIONER": "crc32", "WEIR_HTTP_NO_AUTH": "1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if f.brokers != "a:9092,b:9092" {
		t.Errorf("brokers from a YAML list: %q, want a:9092,b:9092", f.brokers)
	}
	if !f.static || !f.http.noAuth {
		t.Errorf("static %v, http-no-auth %v: want both true from WEIR_STATIC and WEIR_HTTP_NO_AUTH", f.static, f.http.noAuth)
	}
	if f.partitioner != processor.CRC32 {
		t.Errorf("partitioner %v, want crc32 from WEIR_PARTITIONER", f.partitioner)
	}
}

// TestConfigMistakes: each mistake fails naming the key or variable and
// where it came from.
func TestConfigMistakes(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		env        map[string]string
		want       []string
	}{
		{"unknown key", "brokers: a:9092\nstat-dir: /x\n", nil, []string{"weir.yaml:2", `unknown key "stat-dir"`}},
		{"unknown key overridden elsewhere still fails", "stat-dir: /x\n", map[string]string{"WEIR_STATE_DIR": "/y"}, []string{`unknown key "stat-dir"`}},
		{"config key in the file", "config: other.yaml\n", nil, []string{`unknown key "config"`}},
		{"bad int", "standbys: one\n", nil, []string{"weir.yaml:1", "standbys", `"one"`}},
		{"bad bool", "static: yes\n", nil, []string{"weir.yaml:1", "static"}},
		{"bad duration", "commit-interval: 100\n", nil, []string{"weir.yaml:1", "commit-interval"}},
		{"list for a scalar", "state-dir: [a, b]\n", nil, []string{"weir.yaml:1", "state-dir", "not a list"}},
		{"no value", "registry:\n", nil, []string{"weir.yaml:1", "registry", "no value"}},
		{"duplicate", "instance: a\ninstance: b\n", nil, []string{"weir.yaml:2", "instance"}},
		{"not a mapping", "- brokers\n", nil, []string{"weir.yaml:1", "mapping"}},
		{"bad env value", "", map[string]string{"WEIR_STANDBYS": "two"}, []string{`WEIR_STANDBYS="two"`}},
		{"bad env bool", "", map[string]string{"WEIR_KAFKA_TLS": "yes please"}, []string{"WEIR_KAFKA_TLS"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := writeConfig(t, c.yaml)
			_, err := parseRunFlags([]string{"-config", file}, envMap(c.env))
			if err == nil {
				t.Fatalf("no error, want one naming %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	if _, err := parseRunFlags([]string{"-config", filepath.Join(t.TempDir(), "missing.yaml")}, envMap(nil)); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: error %v, want one naming it", err)
	}
}

// TestExampleConfigLoads: docs/weir.yaml, the documented example, holds
// only known keys with valid values.
func TestExampleConfigLoads(t *testing.T) {
	f, err := parseRunFlags([]string{"-config", "../../docs/weir.yaml"}, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if f.brokers == "" || f.registry == "" {
		t.Errorf("the example leaves brokers (%q) or registry (%q) unset", f.brokers, f.registry)
	}
}
