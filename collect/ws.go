package collect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// wsAck is the collector's answer to one event on the WebSocket.
type wsAck struct {
	ID           string `json:"id"`
	Status       string `json:"status"` // accepted, duplicate, rejected, retry
	Field        string `json:"field,omitempty"`
	Error        string `json:"error,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

// wsIdle closes a WebSocket that sent nothing for this long.
const wsIdle = 10 * time.Minute

// websocket serves GET /v1/events/ws?write_key=K: each text message is a
// batch like a POST body; each event gets its own answer, sent once its
// fate is known. Close ends every open one.
func (c *Collector) websocket(w http.ResponseWriter, r *http.Request) {
	if !c.cors(w, r) {
		c.fail(w, http.StatusForbidden, "origin not allowed: add it to the collector's allowed origins", 0)
		return
	}
	site, ok := c.o.WriteKeys[r.URL.Query().Get("write_key")]
	if !ok {
		c.fail(w, http.StatusUnauthorized, "unknown or missing write key: pass ?write_key=", 0)
		return
	}
	// The origin was checked above against the allowed origins.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if !c.track(conn, cancel) {
		conn.Close(websocket.StatusGoingAway, "collector shutting down")
		return
	}
	defer c.untrack(conn)
	conn.SetReadLimit(c.o.MaxBodyBytes)
	client, ua := c.clientAddr(r), r.UserAgent()
	for {
		rctx, rcancel := context.WithTimeout(ctx, wsIdle)
		typ, msg, err := conn.Read(rctx)
		rcancel()
		switch {
		case errors.Is(err, websocket.ErrMessageTooBig):
			conn.Close(websocket.StatusMessageTooBig, "message larger than the body limit")
			return
		case ctx.Err() != nil:
			conn.Close(websocket.StatusGoingAway, "collector shutting down")
			return
		case err != nil:
			return
		case typ != websocket.MessageText:
			conn.Close(websocket.StatusUnsupportedData, "send JSON text messages")
			return
		}
		out := c.process(ctx, site, client, msg, arrival{received: c.now(), userAgent: ua})
		c.m.requests.WithLabelValues(strconv.Itoa(out.status)).Inc()
		if err := c.sendAcks(ctx, conn, msg, out); err != nil {
			return
		}
	}
}

// track registers an open WebSocket for Close; false once closed.
func (c *Collector) track(conn *websocket.Conn, cancel context.CancelFunc) bool {
	c.wsMu.Lock()
	defer c.wsMu.Unlock()
	if c.wsConns == nil {
		return false
	}
	c.wsConns[conn] = cancel
	return true
}

func (c *Collector) untrack(conn *websocket.Conn) {
	c.wsMu.Lock()
	defer c.wsMu.Unlock()
	delete(c.wsConns, conn)
}

// closeWebSockets ends every open WebSocket (an HTTP server's Shutdown
// does not wait for hijacked connections) and refuses new ones.
func (c *Collector) closeWebSockets() {
	c.wsMu.Lock()
	defer c.wsMu.Unlock()
	for _, cancel := range c.wsConns {
		cancel()
	}
	c.wsConns = nil
}

// sendAcks answers every event of a message.
func (c *Collector) sendAcks(ctx context.Context, conn *websocket.Conn, msg []byte, out outcome) error {
	var acks []wsAck
	status := map[string]string{}
	for _, id := range out.accepted {
		status[id] = "accepted"
	}
	for _, id := range out.duplicates {
		status[id] = "duplicate"
	}
	for _, rj := range out.rejected {
		acks = append(acks, wsAck{ID: rj.ID, Status: "rejected", Field: rj.Field, Error: rj.Error})
	}
	for _, id := range out.retry {
		status[id] = "retry"
	}
	if out.err != "" && len(out.accepted)+len(out.rejected)+len(out.retry) == 0 {
		// The message as a whole failed (malformed, too many, rate,
		// registry): every event it names is to be retried or dropped.
		var ids struct {
			Events []struct {
				ID string `json:"id"`
			} `json:"events"`
		}
		_ = json.Unmarshal(msg, &ids)
		st := "retry"
		if out.status < 500 && out.status != http.StatusTooManyRequests {
			st = "rejected"
		}
		if len(ids.Events) == 0 {
			acks = append(acks, wsAck{Status: st, Error: out.err})
		}
		for _, e := range ids.Events {
			acks = append(acks, wsAck{ID: e.ID, Status: st, Error: out.err, RetryAfterMS: out.retryAfter.Milliseconds()})
		}
	}
	for id, st := range status {
		a := wsAck{ID: id, Status: st}
		if st == "retry" {
			a.Error, a.RetryAfterMS = out.err, out.retryAfter.Milliseconds()
		}
		acks = append(acks, a)
	}
	for _, a := range acks {
		b, _ := json.Marshal(a)
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			return err
		}
	}
	return nil
}
