package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/pusher-hq/pusher/internal/dashboard"
)

// dashboardConfig holds pusher serve's settings of the operator dashboard
// (/dashboard).
type dashboardConfig struct {
	Password    string // login with this password; "" for none
	AdminTokens bool   // login with a PUSHER:ADMIN bearer token
	Local       bool   // no login for loopback clients
}

// minDashboardPassword is the shortest password accepted, in characters.
const minDashboardPassword = 12

// dashboardFlags adds the dashboard's flags to fs; the returned function
// reads them after parsing.
func dashboardFlags(fs *flagSet) func() dashboardConfig {
	password := fs.secret("dashboard-password", "PUSHER_DASHBOARD_PASSWORD",
		"operator password of the dashboard at /dashboard, at least 12 characters (set it in the environment, not on the command line); empty = no password login")
	tokens := fs.bool("dashboard-admin-tokens", "PUSHER_DASHBOARD_ADMIN_TOKENS", false,
		"let operators log in to the dashboard with a bearer token that has the scope PUSHER:ADMIN (pusher token --admin)")
	local := fs.bool("dashboard-local", "PUSHER_DASHBOARD_LOCAL", false,
		"serve the dashboard without login to clients on this machine only (loopback address and host name, no proxy headers); needs a loopback -addr such as 127.0.0.1:8080 or localhost:8080; never with a reverse proxy on this host")
	return func() dashboardConfig {
		return dashboardConfig{Password: *password, AdminTokens: *tokens, Local: *local}
	}
}

// validate checks the settings; addr is serve's listen address, which must
// be a loopback one in local mode, so no other machine reaches the
// dashboard without login, not even through a reverse proxy on this host
// (whose requests come from loopback too) listening elsewhere.
func (c dashboardConfig) validate(addr string) error {
	if c.Password != "" && utf8.RuneCountInString(c.Password) < minDashboardPassword {
		return errors.New("dashboard-password must be at least 12 characters")
	}
	if c.Local && !isLoopbackAddr(addr) {
		return fmt.Errorf("dashboard-local serves the dashboard without login, so it needs a loopback listen address such as -addr 127.0.0.1:8080 (PUSHER_ADDR), not %q", addr)
	}
	return nil
}

// isLoopbackAddr reports whether the listen address addr (host:port) is on
// a loopback address only: 127.0.0.0/8, ::1 or localhost. An empty host
// (":8080") listens on every interface.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// withDashboard returns api with the dashboard mounted at /dashboard. The
// dashboard refuses every request unless cfg.Dashboard lets someone in.
func withDashboard(cfg serveConfig, log *slog.Logger, st dashboard.Store, tokens dashboard.Authenticator, wake func(), api http.Handler) (http.Handler, error) {
	d := cfg.Dashboard
	dc := dashboard.Config{
		Store: st, Logger: log.With("component", "dashboard"), Password: d.Password, Local: d.Local,
		SessionKey: dashboardSessionKey(cfg.SecretKey), Schedule: cfg.Schedule, Retention: cfg.Retention,
		Timeout: cfg.Timeout, Wake: wake,
	}
	if d.AdminTokens {
		dc.Tokens = tokens
	}
	h, err := dashboard.New(dc)
	if err != nil {
		return nil, err
	}
	switch {
	case !dc.Enabled():
		log.Info("dashboard off: set PUSHER_DASHBOARD_PASSWORD, PUSHER_DASHBOARD_ADMIN_TOKENS or PUSHER_DASHBOARD_LOCAL to serve it")
	default:
		log.Info("dashboard at /dashboard/", "password", d.Password != "", "admin_tokens", d.AdminTokens, "local", d.Local,
			"shared_sessions", cfg.SecretKey != "")
	}
	if d.Local {
		log.Warn("dashboard served without login to loopback clients: do not put a reverse proxy on this host in front of pusher")
	}
	return dashboard.Mount(api, h), nil
}

// dashboardSessionKey derives the key of dashboard sessions from the
// secret key, so every instance with it accepts the sessions of the others
// and they survive restarts; nil (a random key per process) without one.
func dashboardSessionKey(secretKey string) []byte {
	if secretKey == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(secretKey))
	m.Write([]byte("pusher dashboard sessions"))
	return m.Sum(nil)
}
