// Package auth verifies the OAuth2 bearer JWTs that Zettle clients send and
// mints tokens for local use.
//
// A token is accepted when its signature verifies (RS256 or ES256) with a key
// from the configured JWKS URL (see JWKS for caching and refresh) or, without
// one, with the local key pair that pusher keeps in its data directory; it has
// not expired (exp is required); neither its nbf nor its iat lies in the
// future; and its iss and aud match when an issuer or audience is
// configured. Each time check tolerates Leeway of clock skew.
//
// Claims pusher reads:
//
//	organizationUuid  the merchant organization (subscriber tokens);
//	                  lower-cased, as UUIDs compare case-insensitively
//	client_id         the OAuth client; subscriptions belong to it
//	                  (azp is used when client_id is absent)
//	scope             space-separated scopes, Zettle names:
//	                  "READ:PURCHASE READ:PRODUCT READ:USERINFO";
//	                  a JSON array of strings is accepted too
//
// Producers of events hold the scope PUSHER:PUBLISH, which subscriber
// tokens do not have; their tokens need no organization. Operators hold
// PUSHER:ADMIN: pusher's extension API (docs/extensions.md) lets them read
// and act on every organization's subscriptions.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// ScopePublish lets a token publish events through the ingest API.
const ScopePublish = "PUSHER:PUBLISH"

// ScopeAdmin makes a token an operator's: pusher's extension API lets it
// read and act on the subscriptions of every organization and client.
// Zettle's own calls do not look at it.
const ScopeAdmin = "PUSHER:ADMIN"

// Leeway is the clock skew tolerated between pusher and the token issuer: a
// token is accepted until Leeway after its exp, and from Leeway before its
// nbf and its iat. An iat or nbf further in the future is rejected (401).
const Leeway = 30 * time.Second

// Principal is the authenticated caller.
type Principal struct {
	OrganizationUUID string // lower case; "" for a token bound to no organization
	ClientID         string
	Subject          string
	Scopes           []string
	Expires          time.Time // the token's exp; zero if it has none
}

// HasScope reports whether p holds scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// IsAdmin reports whether p is an operator (holds ScopeAdmin).
func (p Principal) IsAdmin() bool { return p.HasScope(ScopeAdmin) }

// KeySource finds the public key for a token header.
type KeySource interface {
	Key(ctx context.Context, token *jwt.Token) (any, error)
}

// Verifier checks bearer tokens.
type Verifier struct {
	Keys     KeySource
	Issuer   string // required iss when not empty
	Audience string // required aud when not empty
	Now      func() time.Time

	cache tokenCache // verified tokens; see tokenCache
}

// Claims are the JWT claims pusher reads and writes.
type Claims struct {
	OrganizationUUID string     `json:"organizationUuid,omitempty"`
	ClientID         string     `json:"client_id,omitempty"`
	AuthorizedParty  string     `json:"azp,omitempty"`
	Scope            scopeClaim `json:"scope,omitempty"`
	jwt.RegisteredClaims
}

// Authenticate returns the principal of the request's bearer token. Every
// failure is an Unauthorized *webhook.Error whose message says what is
// wrong without echoing the token.
func (v *Verifier) Authenticate(r *http.Request) (Principal, error) {
	raw, ok := bearerToken(r)
	if !ok {
		return Principal{}, unauthorized("Missing bearer token in the Authorization header")
	}
	return v.Verify(r.Context(), raw)
}

// Verify checks a raw token; see Authenticate. A bad token is an
// Unauthorized *webhook.Error; a JWKS that has never been fetched
// successfully (ErrKeysUnavailable) is Unavailable, since the token may be
// fine.
//
// A token verified before is answered from a cache until its exp, or until
// a Versioned KeySource changes its keys: the claims were checked then, and
// only the passing of time or a new key set could change the verdict.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	var version uint64
	if vk, ok := v.Keys.(Versioned); ok {
		version = vk.Version()
	}
	if p, ok := v.cache.get(raw, now(), version); ok {
		return p, nil
	}
	p, exp, err := v.verify(ctx, raw)
	if err == nil {
		v.cache.put(raw, p, exp, version, now())
	}
	return p, err
}

// verify checks a raw token's signature and claims and returns its
// principal and expiry.
func (v *Verifier) verify(ctx context.Context, raw string) (Principal, time.Time, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256", "ES256"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	}
	if v.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(v.Now))
	}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	if v.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.Audience))
	}
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) { return v.Keys.Key(ctx, t) }, opts...)
	if errors.Is(err, ErrKeysUnavailable) {
		return Principal{}, time.Time{}, webhook.Errorf(webhook.Unavailable, "The token signing keys cannot be fetched from the identity provider; try again later")
	}
	if err != nil {
		return Principal{}, time.Time{}, unauthorized(describe(err))
	}
	p := Principal{OrganizationUUID: strings.ToLower(c.OrganizationUUID), ClientID: c.ClientID, Subject: c.Subject, Scopes: c.Scope}
	if p.ClientID == "" {
		p.ClientID = c.AuthorizedParty
	}
	if c.ExpiresAt != nil {
		p.Expires = c.ExpiresAt.Time
	}
	return p, p.Expires, nil
}

func describe(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "The access token has expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "The access token lacks a required claim (exp)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "The access token was issued by an unexpected issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "The access token is not meant for this service (aud)"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "The access token signature is not valid"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "The access token is malformed"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "The access token is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "The access token was issued in the future (iat)"
	}
	return "The access token is not valid"
}

func unauthorized(msg string) error {
	return webhook.TypedErrorf(webhook.Unauthorized, webhook.TypeUnauthorized, "%s", msg)
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// scopeClaim reads a space-separated string or an array of strings.
type scopeClaim []string

func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	var str string
	if err := jsonUnmarshal(b, &str); err == nil {
		*s = strings.Fields(str)
		return nil
	}
	var list []string
	if err := jsonUnmarshal(b, &list); err != nil {
		return fmt.Errorf("scope must be a string or an array of strings")
	}
	*s = list
	return nil
}

func (s scopeClaim) MarshalJSON() ([]byte, error) { return jsonMarshal(strings.Join(s, " ")) }
