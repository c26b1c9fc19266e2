package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weirstream/weir/events"
)

// Request headers besides the signature.
const (
	HeaderIdempotencyKey = "Idempotency-Key" // the trigger id
	HeaderTriggerType    = "X-Weir-Trigger-Type"
	HeaderAttempt        = "X-Weir-Delivery-Attempt" // 1 for the first
)

// outcome is what one attempt came to.
type outcome int

const (
	delivered outcome = iota // 2xx
	retryable                // 408, 429, 5xx, timeout, connection error
	permanent                // any other answer: retrying will not help
)

// attempt is the result of one POST.
type attempt struct {
	outcome    outcome
	retryAfter time.Duration // the endpoint's Retry-After, 0 if none
	err        error         // why it was not delivered, for logs and the dead letter
}

// sender POSTs signed triggers.
type sender struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

// post sends body (the trigger as JSON) to ep as attempt n. The request
// has its own timeout; ctx ending cuts it short.
func (s *sender) post(ctx context.Context, ep Endpoint, tr *events.Trigger, body []byte, n int) attempt {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return attempt{outcome: permanent, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "weir-webhooks")
	req.Header.Set(HeaderIdempotencyKey, tr.TriggerID)
	req.Header.Set(HeaderTriggerType, string(tr.Type))
	req.Header.Set(HeaderAttempt, strconv.Itoa(n))
	req.Header.Set(SignatureHeader, Sign(ep.Secret, s.now(), body))
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v", s.timeout)
		}
		return attempt{outcome: retryable, err: err}
	}
	// Read a little of the body, for the error and so the connection
	// can be reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return attempt{outcome: delivered}
	}
	a := attempt{outcome: permanent, err: fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(snippet)))}
	if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
		a.outcome = retryable
		a.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	if code >= 300 && code < 400 {
		a.err = fmt.Errorf("HTTP %s to %q: configure the final URL (redirects are not followed)", resp.Status, resp.Header.Get("Location"))
	}
	return a
}
