package collect

import (
	"strings"
	"time"
)

// record is one event, checked and encoded, ready for Kafka.
type record struct {
	id    string // the event id, for acknowledgement and deduplication
	topic string
	key   string
	value []byte
	time  time.Time // event time: the record's timestamp
}

// arrival is what the collector knows of a request besides its events.
type arrival struct {
	received  time.Time
	sentAt    time.Time
	userAgent string
}

var deviceTypes = map[string]bool{"DESKTOP": true, "MOBILE": true, "TABLET": true, "APP": true, "OTHER": true}

// build turns a decoded event into its record: the client's fields, the
// type's fixed fields, the key and the context the collector owns.
func build(ev *wireEvent, r Route, ts *typeSchema, a arrival, maxAge time.Duration) (record, *Rejection) {
	rej := func(field, msg string) (record, *Rejection) {
		return record{}, &Rejection{ID: ev.ID, Field: field, Error: msg}
	}
	clientTime, err := parseTime(ev.Time)
	if err != nil {
		return rej("time", "not an RFC 3339 time: "+err.Error())
	}
	rec, err := decodeFields(ev.Fields)
	if err != nil {
		return rej("fields", err.Error())
	}
	owned := []string{r.keyField()}
	if ts.context != nil {
		owned = append(owned, "context")
	}
	for _, name := range owned {
		if _, ok := rec[name]; ok {
			return rej("fields."+name, "set by the collector: send customer_id, anonymous_id and context beside fields")
		}
	}
	for name, v := range r.Set {
		if _, ok := rec[name]; ok {
			return rej("fields."+name, "fixed by the event type "+r.Type)
		}
		rec[name] = v
	}
	key := ev.key()
	rec[r.keyField()] = key
	when := eventTime(clientTime, a.sentAt, a.received, maxAge)
	if ts.context != nil {
		ctx, rj := contextOf(ev, ts.context, when, a)
		if rj != nil {
			return record{}, rj
		}
		rec["context"] = ctx
	}
	value, rj := ts.encode(rec)
	if rj != nil {
		rj.ID = ev.ID
		if rj.Field != "" && !strings.HasPrefix(rj.Field, "context") && rj.Field != r.keyField() {
			rj.Field = "fields." + rj.Field
		}
		return record{}, rj
	}
	return record{id: ev.ID, topic: r.Topic, key: key, value: value, time: when}, nil
}

// contextOf is the record's EventContext, with only the fields the
// registered schema has (an older schema lacks the collector's).
func contextOf(ev *wireEvent, has map[string]bool, when time.Time, a arrival) (map[string]any, *Rejection) {
	c := ev.Context
	device := "OTHER"
	if c.DeviceType != nil {
		device = strings.ToUpper(*c.DeviceType)
		if !deviceTypes[device] {
			return nil, &Rejection{ID: ev.ID, Field: "context.device_type", Error: "not one of DESKTOP, MOBILE, TABLET, APP, OTHER"}
		}
	}
	ua := c.UserAgent
	if ua == nil && a.userAgent != "" {
		ua = &a.userAgent
	}
	anon := &ev.AnonymousID
	if ev.AnonymousID == "" {
		anon = nil
	}
	out := make(map[string]any, len(has))
	set := func(k string, v any) {
		if has[k] {
			out[k] = v
		}
	}
	set("event_id", ev.ID)
	set("event_time", when)
	set("session_id", strOrNil(ev.SessionID))
	set("device", map[string]any{"type": device, "os": strOrNil(c.OS), "user_agent": strOrNil(ua)})
	set("location", map[string]any{"country": nil, "region": nil, "city": nil})
	set("anonymous_id", strOrNil(anon))
	set("locale", strOrNil(c.Locale))
	set("viewport", strOrNil(c.Viewport))
	set("received_time", a.received)
	return out, nil
}

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
