package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepositoryPasses: the real docker-compose.yml and deploy/k8s.
func TestRepositoryPasses(t *testing.T) {
	for _, err := range checkAll("../..") {
		t.Error(err)
	}
}

// TestBrokenComposeFails: unknown keys, wrong types and missing mounted
// files are caught.
func TestBrokenComposeFails(t *testing.T) {
	for dir, want := range map[string]string{
		"compose-unknown-key":   "restart_policy",
		"compose-wrong-type":    "ports",
		"compose-missing-mount": "no-such-dir",
	} {
		errs := checkCompose(filepath.Join("testdata", dir), "docker-compose.yml")
		if !anyContains(errs, want) {
			t.Errorf("%s: errors %v, want one mentioning %q", dir, errs, want)
		}
	}
}

// TestBrokenK8sFails: an unknown field fails strict decoding; and each
// mistake made to a copy of the real manifests is caught.
func TestBrokenK8sFails(t *testing.T) {
	if errs := checkK8sDir("testdata", "k8s-unknown-field"); !anyContains(errs, "clusterIp") {
		t.Errorf("unknown field: errors %v, want one naming clusterIp", errs)
	}
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"selector", "statefulset.yaml", "  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: weir", "  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: other", "does not match"},
		{"service name", "statefulset.yaml", "serviceName: weir-headless", "serviceName: weir-missing", "no headless Service"},
		{"probe port", "statefulset.yaml", "path: /readyz\n              port: http", "path: /readyz\n              port: admin", "port admin"},
		{"wrong type", "statefulset.yaml", "replicas: 3", "replicas: three", "replicas"},
		{"undefined variable", "statefulset.yaml", "value: $(POD_NAME).weir-headless", "value: $(POD_NAM).weir-headless", "POD_NAM"},
		{"mount", "statefulset.yaml", "- name: tmp\n              mountPath: /tmp", "- name: scratch\n              mountPath: /tmp", "volumeMount scratch"},
		{"pdb", "pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 1\n  minAvailable: 2", "exactly one"},
		{"unlisted", "kustomization.yaml", "  - pdb.yaml\n", "", "pdb.yaml is not listed"},
		{"kind", "service.yaml", "kind: Service", "kind: Servce", "not a kind"},
	} {
		dir := t.TempDir()
		k8s := filepath.Join(dir, "k8s")
		copyDir(t, "../../deploy/k8s", k8s)
		p := filepath.Join(k8s, tc.file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.old) {
			t.Fatalf("%s: %s no longer contains %q: update the test", tc.name, tc.file, tc.old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), tc.old, tc.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if errs := checkK8sDir(dir, "k8s"); !anyContains(errs, tc.want) {
			t.Errorf("%s: errors %v, want one mentioning %q", tc.name, errs, tc.want)
		}
	}
}

func anyContains(errs []error, s string) bool {
	for _, err := range errs {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
