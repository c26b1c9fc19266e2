package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/weirstream/weir/codec/avro"
	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/profile"
)

// weir run without -auto-register against a registry that lacks the
// output schemas fails at start-up (before reaching Kafka: the broker
// address is a dead port), naming the subjects and both ways out.
func TestRunWithoutAutoRegisterNeedsOutputSubjects(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	args := []string{"-pipeline", "profiles", "-brokers", "127.0.0.1:1", "-registry", reg.URL(), "-topic-prefix", "p."}
	err := runWorker(context.Background(), args)
	if err == nil {
		t.Fatal("weir run started against an empty registry without -auto-register")
	}
	for _, want := range []string{`"p.profile_updates-value"`, `"p.profile_triggers-value"`, "register them", "-auto-register"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}

	// weir registered nothing.
	resp, err := http.Get(reg.URL() + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	err = json.NewDecoder(resp.Body).Decode(&subjects)
	resp.Body.Close()
	if err != nil || len(subjects) != 0 {
		t.Fatalf("subjects after the failed start: %v (%v), want none", subjects, err)
	}

	// Registered, the check passes.
	rc, err := avro.NewHTTPRegistryClient(reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for subject, schema := range map[string]string{"p.profile_updates-value": events.ProfileUpdateSchema, "p.profile_triggers-value": events.TriggerSchema} {
		if _, err := rc.Register(ctx, subject, schema); err != nil {
			t.Fatal(err)
		}
	}
	topo, err := pipelineTopology(ctx, "profiles", "", "p.", reg.URL(), &pipelineFlags{keyFormat: "string"})
	if err != nil {
		t.Fatalf("with the output schemas registered: %v", err)
	}
	if topo.AppID() != "weir-profiles" {
		t.Errorf("default application id %q, want weir-profiles", topo.AppID())
	}
}

func TestRunPipelineDefaultsAndFlags(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	ctx := context.Background()
	topo, err := pipelineTopology(ctx, "views", "", "", reg.URL(), &pipelineFlags{keyFormat: "string"})
	if err != nil || topo.AppID() != "weir-views" {
		t.Fatalf("views: %v, app id %v; want weir-views", err, topo)
	}
	// -auto-register skips the check: the first output registers.
	if _, err := pipelineTopology(ctx, "profiles", "mine", "", reg.URL(), &pipelineFlags{autoRegister: true, keyFormat: "avro"}); err != nil {
		t.Fatalf("profiles with -auto-register -key-format avro: %v", err)
	}
	for _, pf := range []*pipelineFlags{{autoRegister: true, keyFormat: "json"}} {
		if _, err := pipelineTopology(ctx, "profiles", "", "", reg.URL(), pf); err == nil || !strings.Contains(err.Error(), "-key-format") {
			t.Errorf("-key-format %s: err %v, want one naming the flag", pf.keyFormat, err)
		}
	}
	if _, err := pipelineTopology(ctx, "views", "", "", reg.URL(), &pipelineFlags{keyFormat: string(profile.KeyAvro)}); err == nil {
		t.Error("views accepted -key-format avro, which it does not read")
	}
	topo, err = pipelineTopology(ctx, "profiles", "ttl", "", reg.URL(), &pipelineFlags{autoRegister: true, keyFormat: "string", inactiveTTL: time.Hour})
	if err != nil {
		t.Fatalf("profiles with -inactive-ttl 1h: %v", err)
	}
	if st, ok := topo.Store(profile.StoreProfiles); !ok || st.TTL != time.Hour {
		t.Errorf("-inactive-ttl 1h: profile store %+v, want a TTL of 1h", st)
	}
	for _, c := range []struct {
		pipeline string
		ttl      time.Duration
	}{{"profiles", -time.Hour}, {"views", time.Hour}} {
		if _, err := pipelineTopology(ctx, c.pipeline, "", "", reg.URL(), &pipelineFlags{autoRegister: true, keyFormat: "string", inactiveTTL: c.ttl}); err == nil {
			t.Errorf("-pipeline %s -inactive-ttl %v accepted", c.pipeline, c.ttl)
		}
	}
}
