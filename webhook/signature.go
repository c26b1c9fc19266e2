package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a delivery's signature:
// t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
// Signing the time with the body lets a receiver refuse replays.
const SignatureHeader = "X-Weir-Signature"

// Errors of Verify.
var (
	// ErrSignature: no v1 signature matches the body and secret.
	ErrSignature = errors.New("webhook: signature does not match")
	// ErrSignatureMalformed: the header is not t=…,v1=….
	ErrSignatureMalformed = errors.New("webhook: malformed signature header")
	// ErrSignatureExpired: the signed time is further than the tolerance
	// from now (a replay, or a clock far off).
	ErrSignatureExpired = errors.New("webhook: signature outside the tolerance")
)

// Sign returns the X-Weir-Signature value of body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received X-Weir-Signature header against the raw body:
// nil if some v1 signature matches and its time is within tolerance of
// now. Several v1 values are allowed, so a sender can sign with an old
// and a new secret while rotating.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q", ErrSignatureMalformed, part)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil {
				return fmt.Errorf("%w: v1 is not hex", ErrSignatureMalformed)
			}
			sigs = append(sigs, sig)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex>", ErrSignatureMalformed)
	}
	want := mac(secret, ts, body)
	matched := false
	for _, s := range sigs {
		matched = hmac.Equal(s, want) || matched // constant time: try them all
	}
	if !matched {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(sec, 0)).Abs(); d > tolerance {
		return fmt.Errorf("%w: signed %v from now, tolerance %v", ErrSignatureExpired, d, tolerance)
	}
	return nil
}
