package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// batchBody is a request body: POST /v1/events, or one WebSocket message.
type batchBody struct {
	WriteKey string            `json:"write_key"`
	SentAt   string            `json:"sent_at"`
	Events   []json.RawMessage `json:"events"`
}

// wireEvent is one event as clients send it (README: Collector HTTP API).
type wireEvent struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Time        string          `json:"time"`
	AnonymousID string          `json:"anonymous_id"`
	CustomerID  *string         `json:"customer_id"`
	SessionID   *string         `json:"session_id"`
	Context     wireContext     `json:"context"`
	Fields      json.RawMessage `json:"fields"`
}

// wireContext is what the client knows about itself. Timezone, PageURL
// and Referrer have no place in the events schemas yet and are not
// stored (a page view's url and referrer are its fields).
type wireContext struct {
	Locale     *string `json:"locale"`
	Viewport   *string `json:"viewport"`
	Timezone   *string `json:"timezone"`
	DeviceType *string `json:"device_type"`
	OS         *string `json:"os"`
	UserAgent  *string `json:"user_agent"`
	PageURL    *string `json:"page_url"`
	Referrer   *string `json:"referrer"`
}

// Rejection says why one event was refused: Field is the path that
// failed, "" when the event as a whole is wrong.
type Rejection struct {
	ID    string `json:"id"`
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

const maxIDLen = 128

// decodeBody parses a request body. Its errors are the client's: 400.
// Keys it does not know are ignored here and in events (not in fields,
// which the schema checks), so a newer SDK works with an older collector.
func decodeBody(b []byte) (batchBody, error) {
	var body batchBody
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&body); err != nil {
		return body, fmt.Errorf("malformed JSON body: %v", err)
	}
	if dec.More() {
		return body, errors.New("malformed JSON body: more than one value")
	}
	if len(body.Events) == 0 {
		return body, errors.New(`no events: send {"events": [...]}`)
	}
	return body, nil
}

// decodeEvent parses one event; a failure is that event's rejection.
func decodeEvent(raw json.RawMessage) (wireEvent, *Rejection) {
	var ev wireEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		// Keep the id if there is one, so the client knows which failed.
		var idOnly struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &idOnly)
		return ev, &Rejection{ID: idOnly.ID, Error: "malformed event: " + err.Error()}
	}
	rej := func(field, msg string) (wireEvent, *Rejection) {
		return ev, &Rejection{ID: ev.ID, Field: field, Error: msg}
	}
	switch {
	case ev.ID == "":
		return rej("id", "missing: every event needs a unique id")
	case len(ev.ID) > maxIDLen:
		return rej("id", fmt.Sprintf("longer than %d characters", maxIDLen))
	case ev.Type == "":
		return rej("type", "missing")
	case ev.AnonymousID == "" && (ev.CustomerID == nil || *ev.CustomerID == ""):
		return rej("anonymous_id", "missing: give anonymous_id or customer_id")
	case len(ev.Fields) == 0 || bytes.Equal(bytes.TrimSpace(ev.Fields), []byte("null")):
		return rej("fields", `missing: send the event's fields as an object ({} if none)`)
	}
	return ev, nil
}

// key is the customer the event belongs to: the record key.
func (ev *wireEvent) key() string {
	if ev.CustomerID != nil && *ev.CustomerID != "" {
		return *ev.CustomerID
	}
	return ev.AnonymousID
}

// parseTime reads an RFC 3339 time; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// eventTime is the event time recorded: the client's time corrected by
// its clock's offset (received - sentAt, when the batch says when it was
// sent, as Snowplow's derived timestamp), then clamped into
// [received - maxAge, received]. A missing time is the receive time.
func eventTime(client, sentAt, received time.Time, maxAge time.Duration) time.Time {
	if client.IsZero() {
		return received
	}
	t := client
	if !sentAt.IsZero() {
		t = t.Add(received.Sub(sentAt))
	}
	if t.After(received) {
		return received
	}
	if oldest := received.Add(-maxAge); t.Before(oldest) {
		return oldest
	}
	return t
}
