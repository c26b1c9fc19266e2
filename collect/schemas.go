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
)

// typeSchema is the latest schema of a route's subject, parsed.
type typeSchema struct {
	id      uint32
	schema  *avro.Schema
	root    *avro.SchemaNode // references expanded
	context map[string]bool  // fields of the "context" record, if any
	fetched time.Time
}

// schemas caches each route's latest schema and looks it up again after
// refresh; a failed refresh keeps the schema it had.
type schemas struct {
	reg     *wavro.Registry
	refresh time.Duration
	now     func() time.Time

	mu     sync.Mutex
	byType map[string]*typeSchema
}

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

// get returns r's schema, looking it up again (for at most timeout) once
// it is older than refresh.
func (s *schemas) get(r Route, timeout time.Duration) (*typeSchema, error) {
	s.mu.Lock()
	ts := s.byType[r.Type]
	s.mu.Unlock()
	if ts != nil && s.now().Sub(ts.fetched) < s.refresh {
		return ts, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	fresh, err := s.fetch(ctx, r)
	if err != nil {
		if ts != nil { // keep writing with what we had
			return ts, nil
		}
		return nil, err
	}
	return fresh, nil
}

func (s *schemas) fetch(ctx context.Context, r Route) (*typeSchema, error) {
	id, text, err := s.reg.Latest(ctx, subjectOf(r))
	if err != nil {
		return nil, err
	}
	sc, err := avro.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: subject %s: schema id %d is not usable Avro: %v", ErrConfig, subjectOf(r), id, err)
	}
	root := sc.Root().ExpandReferences()
	if root.Type != "record" {
		return nil, fmt.Errorf("%w: subject %s: schema id %d is a %s, not a record", ErrConfig, subjectOf(r), id, root.Type)
	}
	ts := &typeSchema{id: id, schema: sc, root: root, fetched: s.now()}
	if f := field(root, "context"); f != nil && f.Type.Type == "record" {
		ts.context = map[string]bool{}
		for _, cf := range f.Type.Fields {
			ts.context[cf.Name] = true
		}
	}
	if f := field(root, r.keyField()); f == nil || f.Type.Type != "string" {
		return nil, fmt.Errorf("%w: subject %s: the key field %q is not a string field of the schema", ErrConfig, subjectOf(r), r.keyField())
	}
	s.mu.Lock()
	s.byType[r.Type] = ts
	s.mu.Unlock()
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
