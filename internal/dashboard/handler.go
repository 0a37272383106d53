package dashboard

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// request is one authenticated request.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	sess session
	now  time.Time // UTC
}

// view is a page to render.
type view struct {
	Template string // the page's file in templates/
	Title    string
	Section  string // the navigation entry it belongs to
	Refresh  bool   // reload it now and then (JavaScript, switchable)
	Flash    string // a line above the content, e.g. what an action did
	Data     any
}

// layout is what templates/base.html renders around a page.
type layout struct {
	Title, Section string
	Session        *session
	CSRF           string
	Refresh        int // seconds; 0 for none
	Flash          string
	Now            When
	Data           any
}

// page returns fn behind the session check: without a session the browser
// goes to the login page (or, in the local mode, gets a session at once).
func (h *handler) page(fn func(*request) (*view, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		now := h.cfg.Now().UTC()
		s, ok := h.sessionOf(r)
		if !ok {
			if !h.localAllowed(r) {
				http.Redirect(w, r, Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s = h.newSession(methodLocal, "local "+clientIP(r), now)
			h.setSession(w, s)
			h.log.Info("dashboard session", "session", s.ID, "method", s.Method, "who", s.Who)
		}
		req := &request{w: w, r: r, sess: s, now: now}
		v, err := fn(req)
		if err != nil {
			h.fail(req, err)
			return
		}
		h.render(w, r, http.StatusOK, v, &s, now)
	})
}

// action returns fn behind the session and CSRF checks; fn returns where
// the browser goes next (303 See Other), or "" after rendering a page.
func (h *handler) action(fn func(*request) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		now := h.cfg.Now().UTC()
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		s, ok := h.sessionOf(r)
		req := &request{w: w, r: r, sess: s, now: now}
		switch {
		case crossOrigin(r):
			h.log.Warn("dashboard action refused: cross-origin", "path", r.URL.Path, "origin", r.Header.Get("Origin"),
				"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "remote", r.RemoteAddr)
			h.failStatus(req, http.StatusForbidden, "Refused: the request came from another site.")
			return
		case !ok:
			h.log.Warn("dashboard action refused: no session", "path", r.URL.Path, "remote", r.RemoteAddr)
			h.failStatus(req, http.StatusForbidden, "Your session has ended. Log in again and repeat the action.")
			return
		case r.ParseForm() != nil || !h.keys.checkCSRF(s, r.PostForm.Get("csrf")):
			h.log.Warn("dashboard action refused: CSRF token missing or wrong", "path", r.URL.Path, "session", s.ID,
				"remote", r.RemoteAddr)
			h.failStatus(req, http.StatusForbidden, "Refused: the form's security token is missing or out of date. Reload the page and try again.")
			return
		}
		next, err := fn(req)
		switch {
		case err != nil:
			h.fail(req, err)
		case next != "": // "" when fn rendered a page itself
			http.Redirect(w, r, next, http.StatusSeeOther)
		}
	})
}

// logAction logs what an operator did.
func (h *handler) logAction(req *request, action string, err error, attrs ...any) {
	attrs = append([]any{"action", action, "session", req.sess.ID, "operator", req.sess.Who, "login", req.sess.Method,
		"remote", req.r.RemoteAddr}, attrs...)
	if err != nil {
		h.log.Warn("dashboard action failed", append(attrs, "err", err)...)
		return
	}
	h.log.Info("dashboard action", attrs...)
}

// render writes v in the layout.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, v *view, s *session, now time.Time) {
	t, ok := h.pages[v.Template]
	if !ok {
		h.log.Error("dashboard: no template", "template", v.Template)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	l := layout{Title: v.Title, Section: v.Section, Session: s, Flash: v.Flash, Now: whenAt(now, now), Data: v.Data}
	if s != nil {
		l.CSRF = h.keys.csrf(*s)
	}
	if v.Refresh {
		l.Refresh = int(h.cfg.Refresh / time.Second)
		if l.Refresh < 1 {
			l.Refresh = 1
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", l); err != nil {
		h.log.Error("dashboard: render", "template", v.Template, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage is the data of templates/error.html.
type errorPage struct {
	Status  int
	Message string
}

// fail renders err as an error page: a *webhook.Error's message with its
// status, anything else as an internal error (logged, not shown).
func (h *handler) fail(req *request, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong inside pusher; the error is in its log."
	var we *webhook.Error
	if errors.As(err, &we) {
		status = statusOf(we.Code)
		if status < 500 || we.Code == webhook.Unavailable {
			msg = we.Message
		}
	}
	if status >= 500 {
		h.log.Error("dashboard", "path", req.r.URL.Path, "session", req.sess.ID, "err", err)
	} else {
		h.log.Log(req.r.Context(), slog.LevelDebug, "dashboard", "path", req.r.URL.Path, "status", status, "err", err)
	}
	if we != nil && we.Code == webhook.Unavailable {
		msg = "The database is not available right now; try again in a few seconds."
	}
	h.failStatus(req, status, msg)
}

func (h *handler) failStatus(req *request, status int, msg string) {
	var s *session
	if req.sess.ID != "" {
		s = &req.sess
	}
	h.render(req.w, req.r, status, &view{Template: "error.html", Title: http.StatusText(status),
		Data: errorPage{Status: status, Message: msg}}, s, req.now)
}

func statusOf(c webhook.Code) int {
	switch c {
	case webhook.Invalid, webhook.Conflict:
		return http.StatusBadRequest
	case webhook.Unprocessable:
		return http.StatusUnprocessableEntity
	case webhook.Unauthorized:
		return http.StatusUnauthorized
	case webhook.Forbidden:
		return http.StatusForbidden
	case webhook.NotFound:
		return http.StatusNotFound
	case webhook.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// loginView is the data of templates/login.html.
type loginView struct {
	Next             string
	Nonce            string
	Password, Tokens bool
	Local            bool // the local mode is on (but this request does not qualify)
	Insecure         bool // the browser will not keep the Secure cookie
	Error            string
	LoggedOut        bool
}

// safeNext returns next if it is a dashboard path, else the overview.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.ContainsAny(next, "\\\r\n") ||
		!strings.HasPrefix(u.Path, Prefix+"/") || strings.HasPrefix(u.Path, Prefix+"/login") ||
		path.Clean(u.Path) != strings.TrimSuffix(u.Path, "/") && path.Clean(u.Path) != u.Path {
		return Prefix + "/"
	}
	return next
}

// loginPage serves GET /dashboard/login.
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := h.sessionOf(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if h.localAllowed(r) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.showLogin(w, r, http.StatusOK, loginView{Next: next, LoggedOut: r.URL.Query().Get("out") == "1"})
}

// showLogin renders the login page with a new login nonce.
func (h *handler) showLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	nonce := randomID()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: Prefix, MaxAge: 3600, Secure: true,
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	v.Nonce = h.keys.loginToken(nonce)
	v.Password, v.Tokens, v.Local = h.cfg.Password != "", h.cfg.Tokens != nil, h.cfg.Local
	v.Insecure = !secureContext(r)
	now := h.cfg.Now().UTC()
	h.render(w, r, status, &view{Template: "login.html", Title: "Log in", Data: v}, nil, now)
}

// login handles POST /dashboard/login.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	now := h.cfg.Now().UTC()
	r.ParseForm()
	v := loginView{Next: safeNext(r.PostForm.Get("next"))}
	ip := clientIP(r)
	refuse := func(status int, msg, why string) {
		h.log.Warn("dashboard login refused", "reason", why, "remote", r.RemoteAddr)
		v.Error = msg
		h.showLogin(w, r, status, v)
	}
	c, err := r.Cookie(loginCookie)
	switch {
	case crossOrigin(r):
		refuse(http.StatusForbidden, "Refused: the login form was sent from another site.", "cross-origin")
		return
	case err != nil || !secretEqual(r.PostForm.Get("nonce"), h.keys.loginToken(c.Value)):
		refuse(http.StatusForbidden, "The login form was out of date; please try again.", "login nonce missing or wrong")
		return
	case h.logins.blocked(ip):
		refuse(http.StatusTooManyRequests, "Too many failed logins from your address; wait a minute and try again.", "rate limited")
		return
	}
	password, token := r.PostForm.Get("password"), strings.TrimSpace(r.PostForm.Get("token"))
	var s session
	switch {
	case password != "" && h.cfg.Password != "":
		if !secretEqual(password, h.cfg.Password) {
			h.logins.failed(ip)
			refuse(http.StatusUnauthorized, "That password is not right.", "wrong password")
			return
		}
		s = h.newSession(methodPassword, "operator", now)
	case token != "" && h.cfg.Tokens != nil:
		tr, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "/", nil)
		tr.Header.Set("Authorization", "Bearer "+token)
		p, err := h.cfg.Tokens.Authenticate(tr)
		if err != nil {
			h.logins.failed(ip)
			msg := "That token is not valid."
			var we *webhook.Error
			if errors.As(err, &we) {
				msg = we.Message + "."
			}
			refuse(http.StatusUnauthorized, msg, "token: "+err.Error())
			return
		}
		if !p.IsAdmin() {
			h.logins.failed(ip)
			refuse(http.StatusForbidden, "That token is valid but lacks the "+auth.ScopeAdmin+" scope of operators.", "token without "+auth.ScopeAdmin)
			return
		}
		who := p.Subject
		if who == "" {
			who = p.ClientID
		}
		s = h.newSession(methodToken, "token "+who, now)
		if !p.Expires.IsZero() && p.Expires.Unix() < s.Expires {
			s.Expires = p.Expires.Unix() // a session never outlives its token
		}
	default:
		refuse(http.StatusBadRequest, "Enter the password or an admin token.", "empty form")
		return
	}
	clearCookie(w, loginCookie)
	h.setSession(w, s)
	h.log.Info("dashboard login", "session", s.ID, "method", s.Method, "operator", s.Who, "remote", r.RemoteAddr)
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

// logout handles POST /dashboard/logout.
func (h *handler) logout(req *request) (string, error) {
	clearCookie(req.w, sessionCookie)
	h.logAction(req, "logout", nil)
	if h.localAllowed(req.r) {
		return Prefix + "/", nil
	}
	return Prefix + "/login?out=1", nil
}
