package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// configFlag names the flag (and, through envName, WEIR_CONFIG) that
// points at a YAML file of flag values.
const configFlag = "config"

// listKeys may be YAML lists in the file; their items are joined with
// commas, as the flag takes them.
var listKeys = map[string]bool{"brokers": true}

// envName is the environment variable of a flag: WEIR_ and the name in
// capitals with underscores (-state-dir: WEIR_STATE_DIR).
func envName(flagName string) string {
	return "WEIR_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyConfig fills the flags of the parsed fs that the command line did
// not set: from their WEIR_* variable, else from the YAML file named by
// -config (or WEIR_CONFIG). So a value comes from, in order: the command
// line, the environment, the file, the default. Empty variables count as
// unset. Every key of the file is checked, even one the environment or
// command line overrides, so a typo never passes silently.
func applyConfig(fs *flag.FlagSet, getenv func(string) string) error {
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if !explicit[configFlag] && fs.Lookup(configFlag) != nil {
		if v := getenv(envName(configFlag)); v != "" {
			if err := fs.Set(configFlag, v); err != nil {
				return err
			}
		}
	}
	if f := fs.Lookup(configFlag); f != nil && f.Value.String() != "" {
		vals, err := readConfigFile(fs, f.Value.String())
		if err != nil {
			return err
		}
		var errs []error
		for _, v := range vals {
			if explicit[v.key] {
				continue
			}
			if err := fs.Set(v.key, v.value); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %q: %w", f.Value.String(), v.line, v.key, v.value, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if explicit[f.Name] || f.Name == configFlag {
			return
		}
		env := envName(f.Name)
		if v := getenv(env); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// configValue is one key of a config file, as a flag value.
type configValue struct {
	key, value string
	line       int
}

// readConfigFile reads a YAML mapping of flag names to values. Keys that
// name no flag of fs, nested maps and duplicate keys are errors naming
// the file and line.
func readConfigFile(fs *flag.FlagSet, path string) ([]configValue, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", configFlag, err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file sets nothing
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of flag names to values (brokers: host:9092)", path, root.Line)
	}
	var (
		vals []configValue
		errs []error
		seen = map[string]bool{}
	)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		at := fmt.Sprintf("%s:%d", path, k.Line)
		switch {
		case fs.Lookup(key) == nil || key == configFlag:
			errs = append(errs, fmt.Errorf("%s: unknown key %q: keys are weir run's flag names without the dash (weir run -h lists them)", at, key))
			continue
		case seen[key]:
			errs = append(errs, fmt.Errorf("%s: key %q given twice", at, key))
			continue
		}
		seen[key] = true
		s, err := scalarValue(key, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", at, key, err))
			continue
		}
		vals = append(vals, configValue{key: key, value: s, line: k.Line})
	}
	return vals, errors.Join(errs...)
}

// scalarValue is a YAML value as flag text: a scalar as written, or a
// list of scalars joined by commas for listKeys.
func scalarValue(key string, v *yaml.Node) (string, error) {
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return "", errors.New("no value: give one, or remove the key for the default")
	case v.Kind == yaml.ScalarNode:
		return v.Value, nil
	case v.Kind == yaml.SequenceNode && listKeys[key]:
		items := make([]string, 0, len(v.Content))
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return "", errors.New("want a list of plain values")
			}
			items = append(items, it.Value)
		}
		return strings.Join(items, ","), nil
	case v.Kind == yaml.SequenceNode:
		return "", errors.New("takes one value, not a list")
	}
	return "", errors.New("takes one value, not a mapping")
}
