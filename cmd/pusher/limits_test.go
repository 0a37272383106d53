package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/httpapi"
)

func TestLimitFlags(t *testing.T) {
	c, err := parseServeConfig(nil, envMap(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := limitsConfig{APIRate: 20, APIBurst: 40, IngestRate: 200, IngestBurst: 400, MaxSubscriptions: 100}
	if c.Limits != want {
		t.Errorf("defaults = %+v, want %+v", c.Limits, want)
	}
	env := envMap(map[string]string{"PUSHER_API_RATE": "5", "PUSHER_API_BURST": "7", "PUSHER_INGEST_RATE": "0",
		"PUSHER_MAX_SUBSCRIPTIONS": "3"})
	c, err = parseServeConfig([]string{"-ingest-burst", "9", "-api-rate", "6"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want = limitsConfig{APIRate: 6, APIBurst: 7, IngestRate: 0, IngestBurst: 9, MaxSubscriptions: 3}
	if c.Limits != want {
		t.Errorf("from flags and environment = %+v, want %+v", c.Limits, want)
	}
	api := c.Limits.apply(httpapi.Config{MaxBodyBytes: 1})
	if api.APIRate != 6 || api.APIBurst != 7 || api.IngestRate != 0 || api.IngestBurst != 9 || api.MaxSubscriptions != 3 || api.MaxBodyBytes != 1 {
		t.Errorf("apply = %+v", api)
	}
	for _, bad := range []string{"-api-rate=-1", "-max-subscriptions=-5", "-ingest-burst=-2"} {
		if _, err := parseServeConfig([]string{bad}, envMap(nil), io.Discard); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := parseServeConfig(nil, envMap(map[string]string{"PUSHER_INGEST_RATE": "fast"}), io.Discard); err == nil {
		t.Error("PUSHER_INGEST_RATE=fast accepted")
	}
}

func TestHTTPServerLimits(t *testing.T) {
	srv := newHTTPServer(serveConfig{Timeout: 10 * time.Second}, http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 30*time.Second || srv.WriteTimeout != time.Minute ||
		srv.IdleTimeout != 2*time.Minute || srv.MaxHeaderBytes != 16<<10 {
		t.Errorf("server limits: header %v, read %v, write %v, idle %v, header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	if srv := newHTTPServer(serveConfig{Timeout: time.Minute}, http.NotFoundHandler()); srv.WriteTimeout != 110*time.Second {
		t.Errorf("write timeout with a 1 min delivery timeout = %v, want 110s: a create's TestMessage must fit", srv.WriteTimeout)
	}
}

func TestHTTPServerRefusesHugeHeaders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(serveConfig{Timeout: time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	get := func(header int) int {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("p", header))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(8 << 10); got != http.StatusOK {
		t.Errorf("8 KiB of headers = %d, want 200", got)
	}
	if got := get(32 << 10); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("32 KiB of headers = %d, want 431", got)
	}
}
