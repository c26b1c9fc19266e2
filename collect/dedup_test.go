package collect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A retried id, in a later request, in the same request, or in requests
// racing each other, is acknowledged and written once.
func TestCollectDuplicateIDsWrittenOnce(t *testing.T) {
	r := newRig(t)
	a := r.post(t, pageView("d-1", "a-1"), pageView("d-2", "a-1"), pageView("d-1", "a-1"))
	if a.status != 200 || strings.Join(a.Accepted, ",") != "d-1,d-2,d-1" || strings.Join(a.Duplicates, ",") != "d-1" {
		t.Fatalf("first answer %+v: want d-1, d-2 accepted and the repeat of d-1 a duplicate", a)
	}
	a = r.post(t, pageView("d-1", "a-1"), pageView("d-3", "a-1"))
	if a.status != 200 || !slices.Contains(a.Accepted, "d-1") || !slices.Contains(a.Accepted, "d-3") || strings.Join(a.Duplicates, ",") != "d-1" {
		t.Fatalf("retry answer %+v: want d-1 a duplicate, d-3 new", a)
	}
	// Eight clients send the same ten ids at once.
	var ids []map[string]any
	for i := range 10 {
		ids = append(ids, pageView(fmt.Sprintf("race-%d", i), "a-2"))
	}
	var wg sync.WaitGroup
	answers := make([]answer, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = r.post(t, ids...)
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.status != 200 || len(a.Accepted) != 10 {
			t.Errorf("racing client %d: %+v", i, a)
		}
	}
	got := r.readWritten(t, kgo.ReadUncommitted(), false)
	for id, copies := range got {
		if len(copies) != 1 {
			t.Errorf("%s written %d times", id, len(copies))
		}
	}
	if len(got) != 13 {
		t.Errorf("%d ids in Kafka, want 13", len(got))
	}
}

// On the WebSocket each event is acknowledged by id: accepted, rejected
// with its field, or a duplicate when sent again.
func TestCollectWebSocketAcksEachEvent(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(r.srv.URL, "http") + "/v1/events/ws?write_key=" + testKey
	if _, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.srv.URL, "http")+"/v1/events/ws?write_key=wk_wrong_00000", nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown key: err %v, want 401", err)
	}
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	bad := pageView("ws-bad", "a-1")
	bad["fields"].(map[string]any)["page_type"] = 7
	send := func(evs ...map[string]any) map[string]map[string]any {
		b, _ := json.Marshal(map[string]any{"events": evs})
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		acks := map[string]map[string]any{}
		for range evs {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ack map[string]any
			if err := json.Unmarshal(msg, &ack); err != nil {
				t.Fatal(err)
			}
			acks[ack["id"].(string)] = ack
		}
		return acks
	}
	acks := send(pageView("ws-1", "a-1"), bad, addToCart("ws-2", "c-1"))
	if acks["ws-1"]["status"] != "accepted" || acks["ws-2"]["status"] != "accepted" ||
		acks["ws-bad"]["status"] != "rejected" || acks["ws-bad"]["field"] != "fields.page_type" {
		t.Fatalf("acks %v", acks)
	}
	if acks = send(pageView("ws-1", "a-1")); acks["ws-1"]["status"] != "duplicate" {
		t.Fatalf("resent: %v, want duplicate", acks)
	}
	got := r.readWritten(t, kgo.ReadCommitted(), true)
	if len(got) != 2 || len(got["ws-1"]) != 1 || len(got["ws-2"]) != 1 {
		t.Errorf("in Kafka %v, want ws-1 and ws-2 once", keys(got))
	}
}
