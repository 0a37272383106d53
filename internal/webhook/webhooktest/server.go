package webhooktest

import (
	"net/http/httptest"
	"testing"
)

// Server is a Receiver behind a running httptest.Server. The receiver's
// methods and the server's (URL, Client, Close, …) are both promoted.
type Server struct {
	*Receiver
	*httptest.Server
}

// NewServer starts a receiver on a plain-HTTP test server on loopback. When
// the test ends it releases hanging requests and closes the server; Close
// may be called earlier, to make the destination refuse connections.
func NewServer(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// NewTLSServer is NewServer with HTTPS, on httptest's certificate: clients
// must trust it (Server.Client, or its Certificate).
func NewTLSServer(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, useTLS bool) *Server {
	rv := New()
	srv := httptest.NewUnstartedServer(rv)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		rv.Release() // first: Close waits for the requests in progress
		srv.Close()
	})
	return &Server{Receiver: rv, Server: srv}
}
