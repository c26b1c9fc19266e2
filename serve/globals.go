package serve

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/weirstream/weir/processor"
)

// GlobalReader reads global tables; *processor.App is one.
type GlobalReader interface {
	GetGlobal(store string, key []byte) ([]byte, bool, error)
}

var _ GlobalReader = (*processor.App)(nil)

// GlobalTable is a global table answered at GET /v1/globals/{Name}/{key}.
type GlobalTable struct {
	// Name is the table's store name (topology.GlobalTable.Store).
	Name string
	// JSON turns a stored value (the topic's value bytes) into the JSON
	// body. Default: nil, the bytes are sent as they are, as
	// application/octet-stream.
	JSON func(value []byte) (any, error)
}

// ServeGlobals answers GET /v1/globals/{table}/{key} for the tables
// given, and only those: 200 with the value, 404 for an unknown table or
// key, 503 while the worker loads its global tables. The key is the path
// segment's bytes (a string key). Every worker holds every global table,
// so the worker asked answers; nothing is forwarded. Call it once, before
// serving.
func (s *Server) ServeGlobals(r GlobalReader, tables ...GlobalTable) {
	byName := make(map[string]GlobalTable, len(tables))
	for _, t := range tables {
		byName[t.Name] = t
	}
	// Global tables are protected like profiles.
	s.mux.HandleFunc("GET /v1/globals/{table}/{key}", s.guard.wrap(func(w http.ResponseWriter, req *http.Request) {
		s.global(w, req, r, byName)
	}))
}

func (s *Server) global(w http.ResponseWriter, req *http.Request, r GlobalReader, tables map[string]GlobalTable) {
	if s.opts.Self != "" {
		w.Header().Set("X-Weir-Served-By", s.opts.Self)
	}
	t, ok := tables[req.PathValue("table")]
	if !ok {
		s.writeJSON(w, http.StatusNotFound, errorBody{"no global table " + req.PathValue("table")})
		return
	}
	v, found, err := r.GetGlobal(t.Name, []byte(req.PathValue("key")))
	switch {
	case errors.Is(err, processor.ErrNotReady):
		w.Header().Set("Retry-After", "1")
		s.writeJSON(w, http.StatusServiceUnavailable, errorBody{err.Error()})
		return
	case err != nil:
		s.opts.Logger.Warn("serve: global table read", zap.String("table", t.Name), zap.Error(err))
		s.writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
		return
	case !found:
		s.writeJSON(w, http.StatusNotFound, errorBody{"no key in " + t.Name})
		return
	}
	if t.JSON == nil {
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := w.Write(v); err != nil {
			s.opts.Logger.Debug("serve: write response", zap.Error(err))
		}
		return
	}
	body, err := t.JSON(v)
	if err != nil {
		s.opts.Logger.Warn("serve: decode global table value", zap.String("table", t.Name), zap.Error(err))
		s.writeJSON(w, http.StatusInternalServerError, errorBody{"cannot decode the stored value"})
		return
	}
	s.writeJSON(w, http.StatusOK, body)
}
