// Package client is a Go client for pusher's REST API: Zettle's four
// subscription calls (create, list, update, delete under
// /organizations/{organizationUuid}/subscriptions) and pusher's own
// extensions under /v1/organizations/… (the delivery log, redelivery,
// replay, signing-key rotation and per-subscription settings; see
// docs/extensions.md in the repository).
//
// A Client is safe for concurrent use. Every call takes a context. An API
// error is returned as a *Error, whose Error() is the server's
// developerMessage:
//
//	c := client.New("http://localhost:8080", token)
//	subs, err := c.Subscriptions(ctx)
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) && apiErr.ErrorType == client.ErrorTypeSubscriptionNotFound {
//		// …
//	}
//
// Calls act on the organization "self" (the token's) unless the client was
// made with WithOrganization, or derived with Client.ForOrganization (an
// operator token with the PUSHER:ADMIN scope may name any organization).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// DefaultOrganization is the organization calls act on unless told
// otherwise: the organization of the token.
const DefaultOrganization = "self"

// maxResponse bounds the response bodies the client reads.
const maxResponse = 32 << 20

// Client calls one pusher server with one bearer token.
type Client struct {
	base      string // without trailing slash
	token     string
	org       string
	http      *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc instead of
// http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithOrganization makes calls act on org (an organization UUID, or "self")
// instead of DefaultOrganization.
func WithOrganization(org string) Option {
	return func(c *Client) {
		if org != "" {
			c.org = org
		}
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the pusher server at baseURL (e.g.
// "http://localhost:8080") that authenticates with token, a bearer token
// (without the "Bearer " prefix).
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		base:      strings.TrimRight(baseURL, "/"),
		token:     strings.TrimSpace(strings.TrimPrefix(token, "Bearer ")),
		org:       DefaultOrganization,
		http:      http.DefaultClient,
		userAgent: "pusher-client-go",
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Organization returns the organization the client's calls act on.
func (c *Client) Organization() string { return c.org }

// ForOrganization returns a copy of c whose calls act on org.
func (c *Client) ForOrganization(org string) *Client {
	cc := *c
	WithOrganization(org)(&cc)
	return &cc
}

// NewSubscriptionUUID returns a new version 1 (time-based) UUID, the kind
// Zettle requires for a subscription's uuid.
func NewSubscriptionUUID() (string, error) {
	id, err := uuid.NewUUID()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// Known errorType values of Error.
const (
	ErrorTypeSubscriptionAlreadyExist     = "SUBSCRIPTION_ALREADY_EXIST"
	ErrorTypeSubscriptionNotFound         = "SUBSCRIPTION_NOT_FOUND"
	ErrorTypeMessageNotFound              = "MESSAGE_NOT_FOUND"
	ErrorTypeDestinationNotAccessible     = "DESTINATION_NOT_ACCESSIBLE"
	ErrorTypeDestinationRespondedWithCode = "DESTINATION_RESPONDED_WITH_ERROR_CODE"
	ErrorTypeInvalidRequest               = "INVALID_REQUEST"
	ErrorTypeValidationError              = "VALIDATION_ERROR"
	ErrorTypeUnauthorized                 = "UNAUTHORIZED"
	ErrorTypeForbidden                    = "FORBIDDEN"
	ErrorTypeNotFound                     = "NOT_FOUND"
	ErrorTypeTooManyRequests              = "TOO_MANY_REQUESTS"
	ErrorTypeServiceUnavailable           = "SERVICE_UNAVAILABLE"
)

// Error is an error answer of the API, in Zettle's error shape.
type Error struct {
	StatusCode       int         `json:"-"`
	DeveloperMessage string      `json:"developerMessage"`
	ErrorType        string      `json:"errorType"`
	Violations       []Violation `json:"violations"`
}

// Violation is one invalid field of a request.
type Violation struct {
	PropertyName     string `json:"propertyName"`
	DeveloperMessage string `json:"developerMessage"`
	ConstraintType   string `json:"constraintType"`
}

// Error returns the server's developerMessage (or, for an answer without
// one, its violations or its HTTP status).
func (e *Error) Error() string {
	if e.DeveloperMessage != "" {
		return e.DeveloperMessage
	}
	if len(e.Violations) > 0 {
		parts := make([]string, len(e.Violations))
		for i, v := range e.Violations {
			parts[i] = v.PropertyName + ": " + v.DeveloperMessage
		}
		return strings.Join(parts, "; ")
	}
	return fmt.Sprintf("the server answered HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// responseBodyKey is the context key of WithResponseBody.
type responseBodyKey struct{}

// WithResponseBody returns a context that makes the client store the body
// of each successful response to a call made with it in *body, exactly as
// the server sent it (the last one, for a call that makes several
// requests). It is how a caller gets the API's own JSON alongside the
// typed result, e.g. to print it.
func WithResponseBody(ctx context.Context, body *[]byte) context.Context {
	return context.WithValue(ctx, responseBodyKey{}, body)
}

// do sends one request to path (already escaped; with its query) with in
// as JSON body (nil for none) and decodes a 2xx answer into out (nil to
// ignore it).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, req.URL.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		return decodeError(resp.StatusCode, data)
	}
	if p, ok := ctx.Value(responseBodyKey{}).(*[]byte); ok && p != nil {
		*p = data
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: unexpected answer: %w", method, req.URL.Redacted(), err)
	}
	return nil
}

func decodeError(status int, data []byte) error {
	e := &Error{StatusCode: status}
	if json.Unmarshal(data, e) != nil || e.DeveloperMessage == "" && len(e.Violations) == 0 {
		e.DeveloperMessage, e.ErrorType, e.Violations = "", "", nil
		if msg := strings.TrimSpace(string(data)); msg != "" && len(msg) <= 200 && !strings.ContainsAny(msg, "<{\n") {
			e.DeveloperMessage = msg
		}
	}
	return e
}

// orgPath returns prefix + "/organizations/{org}" + rest, with the
// organization escaped.
func (c *Client) orgPath(prefix, rest string) string {
	return prefix + "/organizations/" + url.PathEscape(c.org) + rest
}

// subPath is the path of a subscription's extension resource.
func (c *Client) subPath(subscriptionUUID, rest string) string {
	return c.orgPath("/v1", "/subscriptions/"+url.PathEscape(subscriptionUUID)+rest)
}
