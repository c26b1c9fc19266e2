package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// checkCompose loads file (relative to root) as docker compose would:
// validated against the compose spec's JSON schema (unknown keys and
// wrong types fail), interpolated, normalised and checked for
// consistency (e.g. depends_on naming a service that exists). Then every
// host path it mounts or builds from must exist in the repository, so
// `docker compose up` needs nothing written first.
func checkCompose(root, file string) []error {
	path := filepath.Join(root, file)
	b, err := os.ReadFile(path)
	if err != nil {
		return []error{err}
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return []error{err}
	}
	// compose-go logs warnings through logrus; they are not findings.
	logrus.SetOutput(io.Discard)
	// An empty environment: ${VAR:-default} takes its default, as for a
	// user with nothing set.
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  abs,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(abs, file), Content: b}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName("weir", true)
		o.ResolvePaths = true
	})
	if err != nil {
		return []error{fmt.Errorf("%s: %w", file, err)}
	}
	var errs []error
	exists := func(svc, what, p string) {
		if _, err := os.Stat(p); err != nil {
			rel, rerr := filepath.Rel(abs, p)
			if rerr != nil {
				rel = p
			}
			errs = append(errs, fmt.Errorf("%s: service %s: %s %s does not exist in the repository", file, svc, what, rel))
		}
	}
	names := make([]string, 0, len(p.Services))
	for name := range p.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := p.Services[name]
		if s.Image == "" && s.Build == nil {
			errs = append(errs, fmt.Errorf("%s: service %s: neither image nor build", file, name))
		}
		if s.Build != nil {
			exists(name, "build context", s.Build.Context)
			if s.Build.DockerfileInline == "" {
				df := s.Build.Dockerfile
				if df == "" {
					df = "Dockerfile"
				}
				if !filepath.IsAbs(df) {
					df = filepath.Join(s.Build.Context, df)
				}
				exists(name, "Dockerfile", df)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				exists(name, "mounted path", v.Source)
			}
		}
		for _, e := range s.EnvFiles {
			if e.Required {
				exists(name, "env_file", e.Path)
			}
		}
	}
	for name, c := range p.Configs {
		if c.File != "" {
			exists("(configs "+name+")", "file", c.File)
		}
	}
	for name, c := range p.Secrets {
		if c.File != "" {
			exists("(secrets "+name+")", "file", c.File)
		}
	}
	return errs
}
