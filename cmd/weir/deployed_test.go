package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
)

// The compose stack and the Kubernetes manifests configure workers with
// flags and WEIR_* variables that no test runs here (no Docker, no
// cluster). weir run's own parser reads them instead, so a misspelt flag
// or variable, or a value it refuses, fails here rather than in a
// crash-looping container.

// composeDefault expands ${VAR:-default} as compose does, with VAR unset.
var composeDefault = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)

func TestComposeWorkersConfigParses(t *testing.T) {
	workers := composeServices(t, "run")
	for name, s := range workers {
		checkWorkerConfig(t, name, s.args, s.env)
	}
	if len(workers) != 3 {
		t.Errorf("compose runs %d workers, want 3", len(workers))
	}
}

func TestKubernetesWorkersConfigParses(t *testing.T) {
	args, env, _ := k8sContainer(t, "statefulset.yaml", "run", func(string) string { return "weir-0" })
	checkWorkerConfig(t, "statefulset", args, env)
}

// composeService is a weir service of docker-compose.yml: its command's
// arguments and its environment, ${VAR:-default} expanded with VAR unset.
type composeService struct {
	args []string
	env  map[string]string
}

// composeServices returns the services running weir command.
func composeServices(t *testing.T, command string) map[string]composeService {
	t.Helper()
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]composeService{}
	for name, s := range f.Services {
		if len(s.Command) == 0 || s.Command[0] != command {
			continue
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			env[k] = composeDefault.ReplaceAllString(v, "$1")
		}
		out[name] = composeService{args: s.Command[1:], env: env}
	}
	return out
}

// k8sContainer reads the one container of deploy/k8s/file, which must
// run weir command, and returns its arguments and environment: the
// shared ConfigMap, then its own variables (own), $(VAR) expanded as
// Kubernetes does; valueFrom gives what a secret or the downward API
// would hold.
func k8sContainer(t *testing.T, file, command string, valueFrom func(name string) string) (args []string, env map[string]string, own map[string]bool) {
	t.Helper()
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	readYAML(t, "../../deploy/k8s/configmap.yaml", &cm)
	var sts struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Args []string `yaml:"args"`
						Env  []struct {
							Name      string         `yaml:"name"`
							Value     string         `yaml:"value"`
							ValueFrom map[string]any `yaml:"valueFrom"`
						} `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	readYAML(t, "../../deploy/k8s/"+file, &sts)
	cs := sts.Spec.Template.Spec.Containers
	if len(cs) != 1 || len(cs[0].Args) == 0 || cs[0].Args[0] != command {
		t.Fatalf("%s containers %+v: want one running weir %s", file, cs, command)
	}
	env, own = map[string]string{}, map[string]bool{}
	for k, v := range cm.Data {
		env[k] = v
	}
	// Kubernetes expands $(VAR) of variables defined before.
	expand := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	for _, e := range cs[0].Env {
		v := e.Value
		if e.ValueFrom != nil {
			v = valueFrom(e.Name)
		}
		env[e.Name] = expand.ReplaceAllStringFunc(v, func(m string) string { return env[m[2:len(m)-1]] })
		own[e.Name] = true
	}
	return cs[0].Args[1:], env, own
}

// checkWorkerConfig parses a worker's args and environment as weir run
// does, and checks what start-up would check before connecting.
func checkWorkerConfig(t *testing.T, name string, args []string, env map[string]string) {
	t.Helper()
	for k := range env {
		if strings.HasPrefix(k, "WEIR_") && k != envTokens && lookupFlagOfEnv(k) == "" {
			t.Errorf("%s: %s is no weir run flag's variable", name, k)
		}
	}
	// A token file mounted from a Secret: a stand-in with a token.
	if p := env["WEIR_HTTP_TOKEN_FILE"]; p != "" {
		tok := filepath.Join(t.TempDir(), "tokens")
		if err := os.WriteFile(tok, []byte("a-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env["WEIR_HTTP_TOKEN_FILE"] = tok
	}
	f, err := parseRunFlags(args, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if f.brokers == "" || f.registry == "" || f.pipeline != "profiles" || f.stateDir == "" || f.instance == "" || !f.static {
		t.Errorf("%s: brokers %q registry %q pipeline %q state dir %q instance %q static %v: want all set, profiles, static",
			name, f.brokers, f.registry, f.pipeline, f.stateDir, f.instance, f.static)
	}
	if _, err := f.conn.options(); err != nil {
		t.Errorf("%s: %v", name, err)
	}
	hs, err := f.http.setup(func(k string) string { return env[k] }, zap.NewNop())
	if err != nil || hs == nil {
		t.Errorf("%s: HTTP API: %v (serving: %v)", name, err, hs != nil)
	}
}

// lookupFlagOfEnv names the weir run flag a WEIR_* variable sets, or "".
func lookupFlagOfEnv(env string) string {
	fs, _ := newRunFlags()
	name := ""
	fs.VisitAll(func(f *flag.Flag) {
		if envName(f.Name) == env {
			name = f.Name
		}
	})
	return name
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The collector's settings in the compose file and the Kubernetes
// manifests parse with weir collect's own parser, and every WEIR_*
// variable they set is one of its flags (or, from the shared ConfigMap,
// one of weir run's).
func TestDeployedCollectorConfigParses(t *testing.T) {
	collectFS, _ := collectFlagSet()
	isFlag := func(fs *flag.FlagSet, env string) bool {
		found := false
		fs.VisitAll(func(f *flag.Flag) { found = found || envName(f.Name) == env })
		return found
	}
	check := func(name string, args []string, env map[string]string, own map[string]bool) {
		t.Helper()
		for k := range env {
			if strings.HasPrefix(k, "WEIR_") && own[k] && !isFlag(collectFS, k) {
				t.Errorf("%s: %s is not a weir collect flag's variable", name, k)
			}
		}
		f, err := parseCollectFlags(args, func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := parseWriteKeys(f.keys); err != nil {
			t.Errorf("%s: write keys: %v", name, err)
		}
		if _, err := f.conn.options(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	collectors := composeServices(t, "collect")
	for name, s := range collectors {
		own := map[string]bool{}
		for k := range s.env {
			own[k] = true
		}
		check(name, s.args, s.env, own)
	}
	if len(collectors) != 1 {
		t.Errorf("compose runs %d collectors, want 1", len(collectors))
	}

	args, env, own := k8sContainer(t, "collector-statefulset.yaml", "collect", func(name string) string {
		if name == "WEIR_WRITE_KEYS" {
			return "shop=wk_from_the_secret_01"
		}
		return "weir-collector-0"
	})
	for k := range env {
		if !own[k] && lookupFlagOfEnv(k) == "" && !isFlag(collectFS, k) {
			t.Errorf("ConfigMap: %s is a flag of neither weir run nor weir collect", k)
		}
	}
	check("collector statefulset", args, env, own)
}
