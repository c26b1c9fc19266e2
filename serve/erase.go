package serve

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/events"
)

// ErrErasureDisabled is what Options.Erase is nil means to a caller: the
// worker reads no erasure requests.
var ErrErasureDisabled = errors.New("erasure requests are not enabled on this worker (weir run -erasures)")

// eraseBody is DELETE /v1/profiles/{id}'s optional body.
type eraseBody struct {
	RequestedBy string `json:"requested_by"`
	Reason      string `json:"reason"`
}

// NewErasureRequest makes a request to erase id, with a fresh request
// id, asked at now.
func NewErasureRequest(id, by, reason string, now time.Time) events.ErasureRequest {
	var b [12]byte
	rand.Read(b[:])
	return events.ErasureRequest{RequestID: "erase-" + hex.EncodeToString(b[:]), CustomerID: id,
		RequestedBy: by, RequestedAt: now.UTC().Truncate(time.Millisecond), Reason: reason}
}

// erase answers DELETE /v1/profiles/{id}: it submits an erasure request
// (body, optional: {"requested_by": ..., "reason": ...}) and answers 202
// with it once Kafka has it. The pipeline applies it in order with the
// customer's events; its audit record says when it is done.
func (s *Server) erase(w http.ResponseWriter, r *http.Request) {
	if s.opts.Erase == nil {
		s.writeJSON(w, http.StatusNotImplemented, errorBody{ErrErasureDisabled.Error()})
		return
	}
	var body eraseBody
	if b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10)); err != nil {
		s.writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
		return
	} else if len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			s.writeJSON(w, http.StatusBadRequest, errorBody{"body: want {\"requested_by\": ..., \"reason\": ...}: " + err.Error()})
			return
		}
	}
	if body.RequestedBy == "" {
		body.RequestedBy = "http " + r.RemoteAddr
	}
	req := NewErasureRequest(r.PathValue("id"), body.RequestedBy, body.Reason, time.Now())
	if err := s.opts.Erase(r.Context(), req); err != nil {
		s.opts.Logger.Warn("serve: erasure request not submitted", zap.String("request_id", req.RequestID), zap.Error(err))
		w.Header().Set("Retry-After", "1")
		s.writeJSON(w, http.StatusServiceUnavailable, errorBody{"erasure request not submitted: " + err.Error()})
		return
	}
	s.opts.Logger.Info("serve: erasure requested", zap.String("request_id", req.RequestID), zap.String("requested_by", req.RequestedBy))
	s.writeJSON(w, http.StatusAccepted, req)
}
