package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// flakyRegistry fronts the schema registry for the workers and answers
// 503 while down, as a registry outage would look to them. The checker
// talks to the registry directly.
type flakyRegistry struct {
	down atomic.Bool
	srv  *http.Server
	url  string
}

func newFlakyRegistry(target string) (*flakyRegistry, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	f := &flakyRegistry{url: "http://" + ln.Addr().String()}
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, `{"error_code":50301,"message":"registry outage (chaos)"}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() {
		if err := f.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			say("registry proxy: %v", err)
		}
	}()
	return f, nil
}

func (f *flakyRegistry) close() error { return f.srv.Close() }
