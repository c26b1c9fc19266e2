package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/avro"
	"github.com/weirstream/weir/codec"
	wavro "github.com/weirstream/weir/codec/avro"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// typeSchema is the latest schema of a route's subject, parsed.
type typeSchema struct {
	id      uint32
	schema  *avro.Schema
	root    *avro.SchemaNode // references expanded
	context map[string]bool  // fields of the "context" record, if any
	next    time.Time        // when to look the subject up again
}

// schemas caches each route's latest schema and looks it up again after
// refresh; a failed refresh keeps the schema it had.
type schemas struct {
	reg     *wavro.Registry
	refresh time.Duration
	now     func() time.Time

	log    *zap.Logger
	flight singleflight.Group

	mu     sync.Mutex
	byType map[string]*typeSchema
}

// retryFailedRefresh is how soon a failed refresh is tried again; until
// then the schema in hand is used.
const retryFailedRefresh = 10 * time.Second

// lookupTimeout bounds one shared lookup of a subject's latest schema.
const lookupTimeout = 10 * time.Second

func subjectOf(r Route) string { return r.Topic + "-value" }

// load fetches every route's schema: at start-up, where a missing one
// is a configuration mistake.
func (s *schemas) load(ctx context.Context, routes []Route) error {
	var errs []error
	for _, r := range routes {
		if _, err := s.fetch(ctx, r); err != nil {
			if errors.Is(err, codec.ErrNotRegistered) {
				err = fmt.Errorf("%w: event type %q: %v: register its schema (weir collect -register-schemas registers the events package's)", ErrConfig, r.Type, err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// get returns r's schema, looking it up again once it is older than
// refresh: one lookup per route at a time, which the callers share. A
// failed refresh keeps the schema in hand and is tried again after
// retryFailedRefresh; with no schema in hand it is an error.
func (s *schemas) get(ctx context.Context, r Route) (*typeSchema, error) {
	s.mu.Lock()
	ts := s.byType[r.Type]
	s.mu.Unlock()
	if ts != nil && s.now().Before(ts.next) {
		return ts, nil
	}
	ch := s.flight.DoChan(r.Type, func() (any, error) {
		// Shared by every caller: not cancelled with the first one's.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		fresh, err := s.fetch(fctx, r)
		if err == nil {
			return fresh, nil
		}
		s.log.Warn("schema lookup failed; using the schema in hand", zap.String("type", r.Type), zap.String("subject", subjectOf(r)), zap.Error(err))
		s.mu.Lock()
		defer s.mu.Unlock()
		if old := s.byType[r.Type]; old != nil {
			retry := *old
			retry.next = s.now().Add(retryFailedRefresh)
			s.byType[r.Type] = &retry
			return &retry, nil
		}
		return nil, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*typeSchema), nil
	case <-ctx.Done():
		if ts != nil {
			return ts, nil
		}
		return nil, ctx.Err()
	}
}

func (s *schemas) fetch(ctx context.Context, r Route) (*typeSchema, error) {
	id, text, err := s.reg.Latest(ctx, subjectOf(r))
	if err != nil {
		return nil, err
	}
	ts, err := parseTypeSchema(r, id, text)
	if err != nil {
		return nil, err
	}
	ts.next = s.now().Add(s.refresh)
	s.mu.Lock()
	s.byType[r.Type] = ts
	s.mu.Unlock()
	return ts, nil
}

// parseTypeSchema reads the schema with id that r's events are encoded in.
func parseTypeSchema(r Route, id uint32, text string) (*typeSchema, error) {
	sc, err := avro.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: subject %s: schema id %d is not usable Avro: %v", ErrConfig, subjectOf(r), id, err)
	}
	root := sc.Root().ExpandReferences()
	if root.Type != "record" {
		return nil, fmt.Errorf("%w: subject %s: schema id %d is a %s, not a record", ErrConfig, subjectOf(r), id, root.Type)
	}
	ts := &typeSchema{id: id, schema: sc, root: root}
	if f := field(root, "context"); f != nil && f.Type.Type == "record" {
		ts.context = map[string]bool{}
		for _, cf := range f.Type.Fields {
			ts.context[cf.Name] = true
		}
	}
	if f := field(root, r.keyField()); f == nil || f.Type.Type != "string" {
		return nil, fmt.Errorf("%w: subject %s: the key field %q is not a string field of the schema", ErrConfig, subjectOf(r), r.keyField())
	}
	return ts, nil
}

func field(n *avro.SchemaNode, name string) *avro.SchemaField {
	for i := range n.Fields {
		if n.Fields[i].Name == name {
			return &n.Fields[i]
		}
	}
	return nil
}

// encode checks rec against the schema and returns it in the Confluent
// wire format. A failure names the field path that failed.
func (ts *typeSchema) encode(rec map[string]any) ([]byte, *Rejection) {
	if path, msg := unknownFields(ts.root, rec, ""); path != "" {
		return nil, &Rejection{Field: path, Error: msg}
	}
	b := codec.AppendWireHeader(make([]byte, 0, 256), ts.id)
	b, err := ts.schema.AppendEncode(b, rec)
	if err != nil {
		var se *avro.SemanticError
		if errors.As(err, &se) {
			msg := strings.TrimPrefix(err.Error(), "avro: ")
			if se.Field != "" {
				msg = strings.TrimPrefix(msg, "field "+se.Field+": ")
			}
			if strings.HasSuffix(msg, "missing key") {
				msg = "missing: the schema requires it (it has no default)"
			}
			return nil, &Rejection{Field: se.Field, Error: msg}
		}
		return nil, &Rejection{Error: err.Error()}
	}
	return b, nil
}

// unknownFields finds a key of v the schema n has no field for: Avro
// would drop it silently, and it is most likely a typo.
func unknownFields(n *avro.SchemaNode, v any, path string) (string, string) {
	join := func(name string) string {
		if path == "" {
			return name
		}
		return path + "." + name
	}
	switch n.Type {
	case "record":
		m, ok := v.(map[string]any)
		if !ok {
			return "", "" // the encoder reports the wrong type
		}
		for k := range m {
			f := field(n, k)
			if f == nil {
				return join(k), "not a field of " + n.Name
			}
			if p, msg := unknownFields(&f.Type, m[k], join(k)); p != "" {
				return p, msg
			}
		}
	case "array":
		items, ok := v.([]any)
		if !ok {
			return "", ""
		}
		for i, it := range items {
			if p, msg := unknownFields(n.Items, it, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p, msg
			}
		}
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return "", ""
		}
		for k, it := range m {
			if p, msg := unknownFields(n.Values, it, join(k)); p != "" {
				return p, msg
			}
		}
	case "union":
		if v == nil {
			return "", ""
		}
		for i := range n.Branches { // the first record, array or map branch
			switch n.Branches[i].Type {
			case "record", "array", "map":
				return unknownFields(&n.Branches[i], v, path)
			}
		}
	}
	return "", ""
}

// decodeFields reads an event's fields as generic JSON, numbers kept
// exact (json.Number) so longs do not round through float64.
func decodeFields(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("fields must be a JSON object: %v", err)
	}
	return m, nil
}
