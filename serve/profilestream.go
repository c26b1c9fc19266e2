package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/weirstream/weir/events"
	"github.com/weirstream/weir/processor"
	"github.com/weirstream/weir/profile"
)

// PublishProfile sends p to the /v1/profiles/{id}/stream clients of
// p.CustomerID only (the others are not looked at). It never blocks: a
// client ProfileBuffer updates behind is disconnected, and resumes with
// Last-Event-ID. Each stream drops versions at or below the last it sent,
// so publishing an update twice or out of order is harmless.
func (s *Server) PublishProfile(p events.ProfileUpdate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.profileSubs[p.CustomerID] {
		select {
		case ch <- p:
		default:
			s.unsubscribeProfileLocked(p.CustomerID, ch)
		}
	}
}

func (s *Server) subscribeProfile(id string) chan events.ProfileUpdate {
	ch := make(chan events.ProfileUpdate, s.opts.ProfileBuffer)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.profileSubs[id]
	if m == nil {
		m = map[chan events.ProfileUpdate]struct{}{}
		s.profileSubs[id] = m
	}
	m[ch] = struct{}{}
	s.nProfile++
	close(s.changed)
	s.changed = make(chan struct{})
	return ch
}

func (s *Server) unsubscribeProfileLocked(id string, ch chan events.ProfileUpdate) {
	m := s.profileSubs[id]
	if _, ok := m[ch]; !ok {
		return
	}
	delete(m, ch)
	if len(m) == 0 {
		delete(s.profileSubs, id)
	}
	s.nProfile--
	close(ch)
	close(s.changed)
	s.changed = make(chan struct{})
}

// ProfileSubscribers is the number of connected profile streams, over
// every customer.
func (s *Server) ProfileSubscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nProfile
}

// errNoCurrent: the current profile is not available now (owner unknown,
// restoring or unreachable); the stream starts without it.
var errNoCurrent = errors.New("current profile unavailable")

// current is id's profile as GET /v1/profiles/{id} answers it: the
// default profile for a customer with no events, the owner's answer when
// another worker owns id. errNoCurrent where GET answers 503; another
// error where it answers 500 or 502, with that status.
func (s *Server) current(r *http.Request, id string) (events.ProfileUpdate, int, error) {
	v, ok, err := s.b.Get(profile.StoreProfiles, []byte(id))
	var no *processor.NotOwnerError
	switch {
	case err == nil && ok:
		p, err := profile.DecodeStored(v)
		if err != nil {
			return p, http.StatusInternalServerError, err
		}
		return p, 0, nil
	case err == nil:
		return profile.Default(id), 0, nil
	case errors.As(err, &no) && no.Owner != "" && r.Header.Get(forwardedHeader) == "":
		resp, err := s.forwardGet(r.Context(), no.Owner, id)
		switch {
		case errors.Is(err, errOwnerRefused):
			return events.ProfileUpdate{}, http.StatusBadGateway, err
		case err != nil:
			return events.ProfileUpdate{}, 0, errNoCurrent
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return events.ProfileUpdate{}, 0, errNoCurrent
		}
		switch resp.StatusCode {
		case http.StatusOK, http.StatusNotFound: // 404: the default profile
			var p events.ProfileUpdate
			if err := json.Unmarshal(b, &p); err != nil {
				return p, http.StatusBadGateway, fmt.Errorf("owner %s: profile: %w", no.Owner, err)
			}
			return p, 0, nil
		case http.StatusServiceUnavailable:
			return events.ProfileUpdate{}, 0, errNoCurrent
		default:
			return events.ProfileUpdate{}, http.StatusBadGateway, fmt.Errorf("owner %s answered %d", no.Owner, resp.StatusCode)
		}
	case errors.As(err, &no), errors.Is(err, processor.ErrNotReady):
		return events.ProfileUpdate{}, 0, errNoCurrent
	default:
		return events.ProfileUpdate{}, http.StatusInternalServerError, err
	}
}

// The stream asks again for a current profile that was unavailable,
// after currentRetryMin, doubling up to currentRetryMax.
const (
	currentRetryMin = 100 * time.Millisecond
	currentRetryMax = 2 * time.Second
)

// profileStream answers GET /v1/profiles/{id}/stream: server-sent events
// "profile", each with the version as its id, starting with the current
// profile and then every newer update this worker is published, never a
// version at or below one already sent (nor below Last-Event-ID).
func (s *Server) profileStream(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.opts.Self != "" {
		w.Header().Set("X-Weir-Served-By", s.opts.Self)
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		s.writeJSON(w, http.StatusInternalServerError, errorBody{"streaming unsupported"})
		return
	}
	sent := int64(-1) // the default profile is version 0
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		v, err := strconv.ParseInt(h, 10, 64)
		if err != nil || v < 0 {
			s.writeJSON(w, http.StatusBadRequest, errorBody{"Last-Event-ID: want a profile version"})
			return
		}
		sent = v
	}
	// Subscribe before reading the current profile, so no update made
	// in between is missed; those older than it are dropped below.
	ch := s.subscribeProfile(id)
	defer func() {
		s.mu.Lock()
		s.unsubscribeProfileLocked(id, ch)
		s.mu.Unlock()
	}()
	cur, code, err := s.current(r, id)
	// While the current profile is unavailable (a rebalance, a restore),
	// it is asked for again, so a customer with no new event still gets
	// one: a client waits for it before it shows anything.
	var retry <-chan time.Time
	wait := currentRetryMin
	switch {
	case errors.Is(err, errNoCurrent):
		s.opts.Logger.Debug("serve: profile stream starts without the current profile")
		retry = time.After(wait)
	case err != nil:
		if r.Context().Err() != nil {
			return
		}
		s.writeJSON(w, code, errorBody{err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, ": subscribed\n\n")
	send := func(p events.ProfileUpdate) bool {
		if p.Version <= sent {
			return true
		}
		b, err := json.Marshal(p)
		if err != nil {
			s.opts.Logger.Error("serve: encode profile", zap.Error(err))
			return true
		}
		if _, err := fmt.Fprintf(w, "event: profile\nid: %d\ndata: %s\n\n", p.Version, b); err != nil {
			return false // client gone
		}
		sent = p.Version
		return true
	}
	if err == nil && !send(cur) {
		return
	}
	fl.Flush()
	ping := time.NewTicker(s.opts.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return
			}
		case <-retry:
			cur, _, err := s.current(r, id)
			switch {
			case err == nil:
				retry = nil
				if !send(cur) {
					return
				}
			case errors.Is(err, errNoCurrent):
				wait = min(2*wait, currentRetryMax)
				retry = time.After(wait)
			default: // the store failed: updates still come
				retry = nil
				s.opts.Logger.Warn("serve: profile stream: current profile", zap.Error(err))
			}
		case p, ok := <-ch:
			if !ok {
				return // fell ProfileBuffer behind
			}
			if !send(p) {
				return
			}
			retry = nil // newer than any current profile asked for
		}
		fl.Flush()
	}
}
