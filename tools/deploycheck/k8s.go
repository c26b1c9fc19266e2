package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifests are the decoded objects of one directory.
type manifests struct {
	sets       []*appsv1.StatefulSet
	services   []*corev1.Service
	pdbs       []*policyv1.PodDisruptionBudget
	configMaps []*corev1.ConfigMap
	where      map[any]string // object -> "file#doc"
}

// kustomization is the part of kustomize's Kustomization this directory
// uses; anything else in the file is an error (strict decoding).
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// checkK8sDir decodes every YAML document in dir (relative to root)
// strictly into the k8s.io/api type of its kind, then checks the objects
// together.
func checkK8sDir(root, dir string) []error {
	full := filepath.Join(root, dir)
	files, err := filepath.Glob(filepath.Join(full, "*.yaml"))
	if err != nil {
		return []error{err}
	}
	more, _ := filepath.Glob(filepath.Join(full, "*.yml"))
	files = append(files, more...)
	sort.Strings(files)
	if len(files) == 0 {
		return []error{fmt.Errorf("%s: no manifests", dir)}
	}
	m := &manifests{where: map[any]string{}}
	var errs []error
	var kust *kustomization
	for _, f := range files {
		name := filepath.Join(dir, filepath.Base(f))
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if base := filepath.Base(f); base == "kustomization.yaml" || base == "kustomization.yml" {
			kust = &kustomization{}
			if err := unmarshalStrict(b, kust); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			continue
		}
		for i, doc := range docSep.Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			errs = append(errs, m.decode(fmt.Sprintf("%s#%d", name, i), []byte(doc))...)
		}
	}
	if kust == nil {
		errs = append(errs, fmt.Errorf("%s: no kustomization.yaml", dir))
	} else {
		errs = append(errs, checkKustomization(dir, full, kust, files)...)
	}
	return append(errs, m.check()...)
}

// unmarshalStrict decodes YAML as the API server decodes a request:
// field names case-sensitive, and unknown or duplicate fields an error.
// (sigs.k8s.io/yaml's UnmarshalStrict goes through encoding/json, which
// takes clusterIp for clusterIP.)
func unmarshalStrict(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, obj)
	return errors.Join(append([]error{err}, strictErrs...)...)
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// decode decodes one document by its apiVersion and kind.
func (m *manifests) decode(where string, doc []byte) []error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return []error{fmt.Errorf("%s: %w", where, err)}
	}
	strict := func(obj any) error {
		if err := unmarshalStrict(doc, obj); err != nil {
			return fmt.Errorf("%s: %s %s: %w", where, tm.APIVersion, tm.Kind, err)
		}
		m.where[obj] = where
		return nil
	}
	var err error
	switch gvk := tm.APIVersion + " " + tm.Kind; gvk {
	case "apps/v1 StatefulSet":
		o := &appsv1.StatefulSet{}
		if err = strict(o); err == nil {
			m.sets = append(m.sets, o)
		}
	case "v1 Service":
		o := &corev1.Service{}
		if err = strict(o); err == nil {
			m.services = append(m.services, o)
		}
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		if err = strict(o); err == nil {
			m.pdbs = append(m.pdbs, o)
		}
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		if err = strict(o); err == nil {
			m.configMaps = append(m.configMaps, o)
		}
	default:
		err = fmt.Errorf("%s: apiVersion %q kind %q: not a kind this checker knows (add it to deploycheck)", where, tm.APIVersion, tm.Kind)
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

func checkKustomization(dir, full string, k *kustomization, files []string) []error {
	var errs []error
	name := filepath.Join(dir, "kustomization.yaml")
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		errs = append(errs, fmt.Errorf("%s: apiVersion/kind %s %s: want kustomize.config.k8s.io/v1beta1 Kustomization", name, k.APIVersion, k.Kind))
	}
	listed := map[string]bool{}
	for _, r := range k.Resources {
		listed[r] = true
		if _, err := os.Stat(filepath.Join(full, r)); err != nil {
			errs = append(errs, fmt.Errorf("%s: resource %s does not exist", name, r))
		}
	}
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && base != "kustomization.yml" && !listed[base] {
			errs = append(errs, fmt.Errorf("%s: %s is not listed in resources", name, base))
		}
	}
	return errs
}

// check makes the checks the API server (and a working deployment) would:
// names valid, selectors matching the pod templates they select, the
// StatefulSet's serviceName a headless Service, probe and Service ports
// naming container ports, mounts naming volumes, $(VAR) references
// defined.
func (m *manifests) check() []error {
	var errs []error
	bad := func(obj any, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{m.where[obj]}, args...)...))
	}
	checkMeta := func(obj any, om metav1.ObjectMeta) {
		if om.Name == "" {
			bad(obj, "metadata.name is required")
		} else if msgs := validation.IsDNS1123Subdomain(om.Name); len(msgs) > 0 {
			bad(obj, "metadata.name %q: %s", om.Name, strings.Join(msgs, "; "))
		}
	}
	configKeys := map[string][]string{}
	for _, cm := range m.configMaps {
		checkMeta(cm, cm.ObjectMeta)
		for k := range cm.Data {
			if msgs := validation.IsConfigMapKey(k); len(msgs) > 0 {
				bad(cm, "data key %q: %s", k, strings.Join(msgs, "; "))
			}
			configKeys[cm.Name] = append(configKeys[cm.Name], k)
		}
	}
	headless := map[string]bool{}
	for _, s := range m.services {
		checkMeta(s, s.ObjectMeta)
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless[s.Name] = true
		}
		if len(s.Spec.Ports) == 0 {
			bad(s, "spec.ports: at least one port is required")
		}
	}
	// Pod templates, for the selectors of Services and PDBs.
	type podTemplate struct {
		owner string
		spec  *corev1.PodTemplateSpec
	}
	var templates []podTemplate

	for _, ss := range m.sets {
		checkMeta(ss, ss.ObjectMeta)
		t := &ss.Spec.Template
		templates = append(templates, podTemplate{m.where[ss], t})
		if ss.Spec.Selector == nil || len(ss.Spec.Selector.MatchLabels)+len(ss.Spec.Selector.MatchExpressions) == 0 {
			bad(ss, "spec.selector is required")
		} else if sel, err := metav1.LabelSelectorAsSelector(ss.Spec.Selector); err != nil {
			bad(ss, "spec.selector: %v", err)
		} else if !sel.Matches(labels.Set(t.Labels)) {
			bad(ss, "spec.selector %v does not match spec.template.metadata.labels %v", sel, t.Labels)
		}
		if ss.Spec.ServiceName == "" {
			bad(ss, "spec.serviceName is required")
		} else if !headless[ss.Spec.ServiceName] {
			bad(ss, "spec.serviceName %q: no headless Service (clusterIP: None) of that name here", ss.Spec.ServiceName)
		}
		if ss.Spec.Replicas != nil && *ss.Spec.Replicas < 0 {
			bad(ss, "spec.replicas must not be negative")
		}
		volumes := map[string]bool{}
		for _, v := range t.Spec.Volumes {
			volumes[v.Name] = true
			if v.ConfigMap != nil && configKeys[v.ConfigMap.Name] == nil {
				bad(ss, "volume %s: ConfigMap %q is not among these manifests", v.Name, v.ConfigMap.Name)
			}
		}
		for _, c := range ss.Spec.VolumeClaimTemplates {
			volumes[c.Name] = true
			if _, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				bad(ss, "volumeClaimTemplate %s: resources.requests.storage is required", c.Name)
			}
			if len(c.Spec.AccessModes) == 0 {
				bad(ss, "volumeClaimTemplate %s: accessModes is required", c.Name)
			}
		}
		if len(t.Spec.Containers) == 0 {
			bad(ss, "spec.template.spec.containers: at least one container is required")
		}
		for _, c := range slices.Concat(t.Spec.InitContainers, t.Spec.Containers) {
			if c.Name == "" || c.Image == "" {
				bad(ss, "container %q: name and image are required", c.Name)
			}
			for _, p := range []struct {
				name string
				p    *corev1.Probe
			}{{"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}, {"startupProbe", c.StartupProbe}} {
				if p.p == nil {
					continue
				}
				var port *intstr.IntOrString
				switch {
				case p.p.HTTPGet != nil:
					port = &p.p.HTTPGet.Port
				case p.p.TCPSocket != nil:
					port = &p.p.TCPSocket.Port
				case p.p.GRPC != nil:
					port = &intstr.IntOrString{IntVal: p.p.GRPC.Port}
				case p.p.Exec != nil:
				default:
					bad(ss, "container %s: %s: needs httpGet, tcpSocket, grpc or exec", c.Name, p.name)
				}
				if port != nil && !hasPort(c.Ports, *port) {
					bad(ss, "container %s: %s: port %s is not one of the container's ports", c.Name, p.name, port.String())
				}
			}
			for _, vm := range c.VolumeMounts {
				if !volumes[vm.Name] {
					bad(ss, "container %s: volumeMount %s: no volume or volumeClaimTemplate of that name", c.Name, vm.Name)
				}
			}
			// $(VAR) in args, command and env values: Kubernetes leaves
			// an undefined reference as the literal text, silently.
			defined := map[string]bool{}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					keys, ok := configKeys[ef.ConfigMapRef.Name]
					if !ok {
						bad(ss, "container %s: envFrom: ConfigMap %q is not among these manifests", c.Name, ef.ConfigMapRef.Name)
					}
					for _, k := range keys {
						defined[ef.Prefix+k] = true
					}
				}
			}
			for _, e := range c.Env {
				for _, ref := range varRefs(e.Value) {
					if !defined[ref] {
						bad(ss, "container %s: env %s: $(%s) is not defined before it", c.Name, e.Name, ref)
					}
				}
				defined[e.Name] = true
			}
			for _, a := range slices.Concat(c.Command, c.Args) {
				for _, ref := range varRefs(a) {
					if !defined[ref] {
						bad(ss, "container %s: argument %q: $(%s) is not defined in env or envFrom", c.Name, a, ref)
					}
				}
			}
		}
	}
	selects := func(sel labels.Selector) []podTemplate {
		var out []podTemplate
		for _, t := range templates {
			if sel.Matches(labels.Set(t.spec.Labels)) {
				out = append(out, t)
			}
		}
		return out
	}
	for _, s := range m.services {
		if len(s.Spec.Selector) == 0 {
			continue // endpoints managed by hand
		}
		ts := selects(labels.SelectorFromSet(s.Spec.Selector))
		if len(ts) == 0 {
			bad(s, "spec.selector %v selects no pod template here", s.Spec.Selector)
		}
		for _, p := range s.Spec.Ports {
			if p.Port <= 0 {
				bad(s, "port %q: port is required", p.Name)
			}
			if p.TargetPort.Type == intstr.String {
				for _, t := range ts {
					found := false
					for _, c := range t.spec.Spec.Containers {
						found = found || hasPort(c.Ports, p.TargetPort)
					}
					if !found {
						bad(s, "port %q: targetPort %q names no container port of %s", p.Name, p.TargetPort.StrVal, t.owner)
					}
				}
			}
		}
	}
	for _, p := range m.pdbs {
		checkMeta(p, p.ObjectMeta)
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			bad(p, "give exactly one of spec.minAvailable and spec.maxUnavailable")
		}
		if p.Spec.Selector == nil {
			bad(p, "spec.selector is required")
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil {
			bad(p, "spec.selector: %v", err)
		} else if len(selects(sel)) == 0 {
			bad(p, "spec.selector %v selects no pod template here", sel)
		}
	}
	return errs
}

func hasPort(ports []corev1.ContainerPort, p intstr.IntOrString) bool {
	for _, cp := range ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return true
		}
	}
	return false
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// varRefs returns the names of the $(NAME) references in s ($$( escapes).
func varRefs(s string) []string {
	s = strings.ReplaceAll(s, "$$", "")
	var out []string
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}
