package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/internal/demo"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
	"github.com/weirstream/weir/state/pebble"
)

// TestEraseSurvivesKillAndRestore erases two customers from a running
// worker, one by DELETE /v1/profiles/{id} and one by weir erase, kills the
// worker with SIGKILL, sends an old event of one of them again, and
// restores a new worker from an empty state directory, that is from the
// changelogs: nothing of either comes back, in any store of the new
// worker, in what compaction keeps of any changelog, or in the profile
// output, while another customer's profile is restored whole.
func TestEraseSurvivesKillAndRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildWeir(ctx, t)
	pc := newProfilesCluster(ctx, t, 3)
	c, app, prefix := pc.c, pc.app, pc.prefix
	tp := pc.tp.WithErasures(prefix)
	if err := demo.CreateTopicsKeeping(ctx, c.Brokers, map[string]int32{tp.Erasures: 3, tp.ErasureAudit: 3}); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	gen := profile.Generate(seed, 1200, profile.GenOptions{Customers: 20})
	recs, counts := pc.produce(ctx, t, gen)
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		return counts[ids[i]] > counts[ids[j]] || counts[ids[i]] == counts[ids[j]] && ids[i] < ids[j]
	})
	x, y, z := ids[0], ids[1], ids[2] // x and y are erased, z stays

	env := append(os.Environ(), "WEIR_BROKERS="+strings.Join(c.Brokers, ","), "WEIR_REGISTRY="+c.Registry)
	worker := func(stateDir, addr string) (*exec.Cmd, *weirProc) {
		cmd := exec.Command(bin, "run", "-pipeline", "profiles", "-auto-register", "-erasures", "-app", app,
			"-topic-prefix", prefix, "-state-dir", stateDir, "-commit-interval", "100ms", "-session-timeout", "6s", "-http", addr, "-http-no-auth")
		return cmd, startWeir(t, cmd, env)
	}
	caughtUp := func(p *weirProc, topics ...string) {
		t.Helper()
		for _, topic := range topics {
			if err := demo.WaitCommitted(ctx, c.Brokers, app, topic); err != nil {
				t.Fatalf("%v\n%s", err, p.output())
			}
		}
	}
	// status asks addr for id's profile until it answers want (the store
	// follows the commit a moment after the offsets are visible), for at
	// most 30 s, and returns the last answer.
	status := func(addr, id string, want int) (events.ProfileUpdate, int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			p, code, err := getProfile(ctx, http.DefaultClient, addr, "", id)
			if err != nil {
				t.Fatal(err)
			}
			if code == want || time.Now().After(deadline) {
				return p, code
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(50 * time.Millisecond): // state follows its commit
			}
		}
	}
	inputs := []string{tp.Views, tp.Purchases, tp.Tickets, tp.Customers}
	addr1 := freeAddr(t)
	cmd1, p1 := worker(t.TempDir(), addr1)
	caughtUp(p1, inputs...)
	for _, id := range []string{x, y, z} {
		if p, code := status(addr1, id, http.StatusOK); code != http.StatusOK || p.Version != counts[id] {
			t.Fatalf("before erasure: %s: %d, version %d, want 200 and %d", id, code, p.Version, counts[id])
		}
	}

	// y by weir erase, which waits for its audit: first, when the worker
	// has written no audit record and registered no subject yet.
	var out strings.Builder
	cluster := []string{"-brokers", strings.Join(c.Brokers, ","), "-registry", c.Registry, "-app", app, "-topic-prefix", prefix}
	if err := runErase(ctx, append(cluster, "-by", "ops", "-reason", "ticket 7", "-wait", "1m", y), &out); err != nil {
		t.Fatalf("weir erase %s: %v\n%s", y, err, out.String())
	}
	t.Logf("weir erase:\n%s", out.String())
	if !strings.Contains(out.String(), "erased "+y+": task ") {
		t.Fatalf("weir erase did not report the audit of %s:\n%s", y, out.String())
	}
	// x by the HTTP API.
	body := strings.NewReader(`{"requested_by": "dpo@example.com", "reason": "article 17"}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, "http://"+addr1+"/v1/profiles/"+x, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reqX events.ErasureRequest
	err = json.NewDecoder(resp.Body).Decode(&reqX)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted || reqX.CustomerID != x || reqX.RequestID == "" {
		t.Fatalf("DELETE /v1/profiles/%s: %d %+v %v, want 202 with the request", x, resp.StatusCode, reqX, err)
	}
	out.Reset()
	cfg := profile.Config{Topics: tp, Serdes: pc.serdes}
	conn := []processor.Opt{processor.SeedBrokers(c.Brokers...)}
	if err := waitAudits(ctx, cfg, []events.ErasureRequest{reqX}, nil, time.Minute, &out, conn); err != nil {
		t.Fatalf("no audit record of %s: %v", x, err)
	}
	caughtUp(p1, tp.Erasures)
	for _, id := range []string{x, y} {
		if _, code := status(addr1, id, http.StatusNotFound); code != http.StatusNotFound {
			t.Fatalf("after erasure: %s: %d, want 404", id, code)
		}
	}

	// kill -9, then an old event of x again (a producer retrying), then a
	// new worker restores from the changelogs into an empty directory (it
	// gets the partitions once the killed one's session, 6 s, expires).
	if err := cmd1.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for range p1.lines {
	}
	var old *kgo.Record
	for i, r := range gen {
		if r.Key == x && r.IsEvent() {
			old = recs[i]
			old.Offset, old.Partition = 0, 0
			break
		}
	}
	if err := demo.Produce(ctx, c.Brokers, []*kgo.Record{old}); err != nil {
		t.Fatal(err)
	}
	dir2, addr2 := t.TempDir(), freeAddr(t)
	cmd2, p2 := worker(dir2, addr2)
	caughtUp(p2, inputs...)
	if p, code := status(addr2, z, http.StatusOK); code != http.StatusOK || p.Version != counts[z] {
		t.Fatalf("restored: %s: %d, version %d, want 200 and %d", z, code, p.Version, counts[z])
	}
	for _, id := range []string{x, y} {
		if _, code := status(addr2, id, http.StatusNotFound); code != http.StatusNotFound {
			t.Fatalf("restored: %s: %d, want 404", id, code)
		}
	}
	if err := cmd2.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for range p2.lines {
	}

	topo, err := profile.Topology(profile.Config{AppID: app, Topics: tp, Serdes: pc.serdes})
	if err != nil {
		t.Fatal(err)
	}
	// Every store of the restored worker.
	db, err := pebble.Open(filepath.Join(dir2, app), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := db.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	seenZ := false
	for _, task := range tasks {
		for _, st := range topo.Stores() {
			if st.Changelog == "" {
				continue
			}
			it := db.Store(task, st.Name).Range(nil, nil)
			for it.Next() {
				k, v := it.Key(), it.Value()
				if st.Name == tp.Erasures {
					if !bytes.Equal(k, []byte(x)) && !bytes.Equal(k, []byte(y)) {
						t.Errorf("erasure store %s holds %q", st.Name, k)
					}
					continue
				}
				for _, id := range []string{x, y} {
					if bytes.Contains(k, []byte(id)) || bytes.Contains(v, []byte(id)) {
						t.Errorf("task %s: store %s holds %s: key %q", task, st.Name, id, k)
					}
				}
				seenZ = seenZ || bytes.Contains(k, []byte(z))
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !seenZ {
		t.Fatalf("the scan found nothing of %s either: it proves nothing", z)
	}

	// What compaction keeps of every changelog, and the profile output:
	// the latest record of each key.
	var topics []string
	for _, st := range topo.Stores() {
		if st.Changelog != "" && st.Name != tp.Erasures {
			topics = append(topics, st.Changelog)
		}
	}
	latest := map[string][]byte{}
	err = processor.ReadToEnd(ctx, append(topics, tp.Updates), func(r processor.FollowedRecord) error {
		var v []byte // nil: a tombstone
		if r.Value != nil {
			v = append([]byte{}, r.Value...)
		}
		latest[fmt.Sprintf("%s/%d/%q", r.Topic, r.Partition, r.Key)] = v
		return nil
	}, conn...)
	if err != nil {
		t.Fatal(err)
	}
	tombstones := 0
	for k, v := range latest {
		for _, id := range []string{x, y} {
			if !strings.Contains(k, id) && !bytes.Contains(v, []byte(id)) {
				continue
			}
			if v != nil {
				t.Errorf("after compaction %s would still hold %s (value of %d bytes)", k, id, len(v))
			}
			tombstones++
		}
	}
	for _, id := range []string{x, y} {
		found := false
		for k, v := range latest {
			if strings.HasPrefix(k, tp.Updates+"/") && strings.HasSuffix(k, fmt.Sprintf("/%q", id)) {
				found = true
				if v != nil {
					t.Errorf("profile output: the latest record of %s is %d bytes, want a tombstone", id, len(v))
				}
			}
		}
		if !found {
			t.Errorf("profile output: no record of %s", id)
		}
	}
	if tombstones == 0 {
		t.Fatal("no changelog holds a tombstone of the erased customers")
	}
	t.Logf("%d keys of the erased customers end in a tombstone across %d changelogs and the profile output", tombstones, len(topics))
}
