package journey

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/webhook"
)

// Engine is the demo's personalization engine: it receives triggers by
// webhook (POST /engine/webhooks, as `weir webhooks` delivers them),
// checks their signature, acts once per trigger id however often it is
// delivered, and shows what it did on the shop page ("email sent: cart
// abandoned").
type Engine struct {
	secret string
	log    *zap.Logger
	now    func() time.Time

	mu     sync.Mutex
	acted  map[string]bool // trigger ids acted on
	recent []Delivery      // the last keepDeliveries, oldest first
	subs   map[chan Delivery]string
	total  int
}

// Delivery is what the engine did for one trigger.
type Delivery struct {
	TriggerID  string             `json:"trigger_id"`
	CustomerID string             `json:"customer_id"`
	Type       events.TriggerType `json:"type"`
	Action     string             `json:"action"`
	Attempt    int                `json:"attempt"`
	ReceivedAt time.Time          `json:"received_at"`
}

const keepDeliveries = 500

// NewEngine makes an engine that accepts deliveries signed with secret.
func NewEngine(secret string, log *zap.Logger) *Engine {
	if log == nil {
		log = zap.NewNop()
	}
	return &Engine{secret: secret, log: log, now: time.Now, acted: map[string]bool{}, subs: map[chan Delivery]string{}}
}

// Total is how many triggers the engine acted on.
func (e *Engine) Total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.total
}

// actions is what the engine does per trigger type.
var actions = map[events.TriggerType]string{
	events.CartAbandoned: "email sent: cart abandoned",
	events.AtRisk:        "support call booked: customer at risk",
	events.HighIntent:    "offer shown: high intent",
}

func (e *Engine) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(e.secret, r.Header.Get(webhook.SignatureHeader), body, e.now(), 5*time.Minute); err != nil {
		e.log.Warn("engine: refused a delivery", zap.Error(err))
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var t events.Trigger
	if err := json.Unmarshal(body, &t); err != nil || t.TriggerID == "" {
		http.Error(w, fmt.Sprintf("not a trigger: %v", err), http.StatusBadRequest)
		return
	}
	if key := r.Header.Get(webhook.HeaderIdempotencyKey); key != t.TriggerID {
		http.Error(w, "Idempotency-Key is not the trigger id", http.StatusBadRequest)
		return
	}
	attempt, _ := strconv.Atoi(r.Header.Get(webhook.HeaderAttempt))
	action, ok := actions[t.Type]
	if !ok {
		action = "noted: " + strings.ToLower(string(t.Type))
	}
	d := Delivery{TriggerID: t.TriggerID, CustomerID: t.CustomerID, Type: t.Type, Action: action, Attempt: attempt, ReceivedAt: e.now().UTC()}
	e.mu.Lock()
	if !e.acted[t.TriggerID] { // a redelivery is acknowledged, not acted on again
		e.acted[t.TriggerID] = true
		e.total++
		e.recent = append(e.recent, d)
		if len(e.recent) > keepDeliveries {
			e.recent = e.recent[len(e.recent)-keepDeliveries:]
		}
		for ch, customer := range e.subs {
			if customer == d.CustomerID {
				select {
				case ch <- d:
				default: // a slow page misses it rather than stalling deliveries
				}
			}
		}
	}
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// stream answers GET /api/engine/stream?customer=id: the customer's
// deliveries still kept, then each new one.
func (e *Engine) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	customer := r.URL.Query().Get("customer")
	ch := make(chan Delivery, 16)
	e.mu.Lock()
	var past []Delivery
	for _, d := range e.recent {
		if d.CustomerID == customer {
			past = append(past, d)
		}
	}
	e.subs[ch] = customer
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.subs, ch)
		e.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: %d\n\n", retryMs)
	send := func(d Delivery) bool {
		b, _ := json.Marshal(d)
		return writeEvent(w, sseEvent{name: "delivery", data: b}) == nil
	}
	for _, d := range past {
		if !send(d) {
			return
		}
	}
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case d := <-ch:
			if !send(d) {
				return
			}
			fl.Flush()
		}
	}
}
