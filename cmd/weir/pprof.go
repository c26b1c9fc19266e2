package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"
)

// pprofServer serves net/http/pprof on a listener of its own, never the
// API's: profiles show internals, so they are opt-in and usually bound to
// the loopback interface.
type pprofServer struct {
	srv *http.Server
	ln  net.Listener
}

// listenPprof checks and binds -pprof's address before the worker
// starts, so a mistake fails start-up and names what to change.
func listenPprof(addr string) (*pprofServer, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof %q: want HOST:PORT, for example 127.0.0.1:6060", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return nil, fmt.Errorf("-pprof %q: port %q is not a number from 0 to 65535", addr, port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof %s: %w (choose a free port, or 127.0.0.1:0 for any)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &pprofServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}, nil
}

// start serves in the background and says where.
func (p *pprofServer) start() {
	go func() {
		if err := p.srv.Serve(p.ln); !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "weir: pprof:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "weir: serving pprof on http://%s/debug/pprof/\n", p.ln.Addr())
}

// stop closes the listener; a profile being taken is cut short.
func (p *pprofServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if p.srv.Shutdown(ctx) != nil {
		p.srv.Close()
	}
}
