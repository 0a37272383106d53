package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// The operator event sink (docs/extensions.md, "Operator event sink"):
// notices of webhook.ChannelOperator are POSTed as JSON events, signed as
// Standard Webhooks deliveries, to a URL of the operator's.

// OperatorTimeout is how long the operator sink has to answer a POST.
const OperatorTimeout = 10 * time.Second

// maxOperatorError is how much of a refusing sink's answer is kept in the
// notice's last error.
const maxOperatorError = 200

// OperatorSink sends operator-channel notices. Make it with
// NewOperatorSink; it is a Sender.Operator.
type OperatorSink struct {
	url       string
	secret    string // whsec_…
	client    *http.Client
	userAgent string
	now       func() time.Time
}

// NewOperatorSink returns the sink POSTing to rawURL (absolute, http or
// https), signing with secret: a Standard Webhooks secret "whsec_" +
// base64, or any other non-empty text, whose UTF-8 bytes are then the HMAC
// key (the receiver's secret is OperatorSecret of it). userAgent is sent as
// User-Agent; now (nil for time.Now) gives webhook-timestamp.
func NewOperatorSink(rawURL, secret, userAgent string, now func() time.Time) (*OperatorSink, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("operator webhook URL %q: want an absolute http:// or https:// URL", webhook.DisplayURL(rawURL))
	}
	whsec, err := OperatorSecret(secret)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &OperatorSink{
		url: rawURL, secret: whsec, userAgent: userAgent, now: now,
		client: &http.Client{
			Timeout: OperatorTimeout,
			// A redirect is an answer that is not 2xx: it is not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// OperatorSecret returns the Standard Webhooks secret the sink signs with:
// secret itself if it starts with "whsec_" (its rest must be base64), else
// "whsec_" + the base64 of secret's bytes. An empty secret is an error.
func OperatorSecret(secret string) (string, error) {
	switch {
	case secret == "":
		return "", errors.New("operator webhook secret is empty")
	case strings.HasPrefix(secret, signing.SecretPrefix):
		if _, err := signing.StandardWebhooksKey(secret); err != nil {
			return "", fmt.Errorf("operator webhook secret: %w", err)
		}
		return secret, nil
	}
	return signing.StandardWebhooksSecret(secret), nil
}

// Send POSTs n's event (OperatorEvent) with the Standard Webhooks headers:
// webhook-id OperatorEventID(n), webhook-timestamp the Unix seconds of
// this attempt, webhook-signature one "v1," entry. A 2xx answer is
// success; anything else, or no answer within OperatorTimeout, is an error
// naming the status or the failure.
func (o *OperatorSink) Send(ctx context.Context, n webhook.Notice) error {
	body, err := OperatorEvent(n)
	if err != nil {
		return err
	}
	id, ts := OperatorEventID(n), o.now()
	sig, err := signing.StandardWebhooks(o.secret, id, ts, body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.userAgent != "" {
		req.Header.Set("User-Agent", o.userAgent)
	}
	req.Header.Set(signing.WebhookIDHeader, id)
	req.Header.Set(signing.WebhookTimestampHeader, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(signing.WebhookSignatureHeader, sig)
	resp, err := o.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text holds the URL, which may hold a password
		}
		return fmt.Errorf("POST %s: %w", webhook.DisplayURL(o.url), err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg := fmt.Sprintf("POST %s: HTTP %d", webhook.DisplayURL(o.url), resp.StatusCode)
	if a := oneLine(strings.TrimSpace(strings.ToValidUTF8(string(answer), "\uFFFD"))); a != "" {
		if r := []rune(a); len(r) > maxOperatorError {
			a = string(r[:maxOperatorError-1]) + "…"
		}
		msg += ": " + a
	}
	return errors.New(msg)
}

// OperatorEventID is the webhook-id of n's event: "evt_" and 32 hex digits
// of the SHA-256 of its subscription, kind and creation time (to the
// microsecond, as stores keep it). It is the same at every retry, after a
// restart and after pusher copy, so a receiver can drop repeats.
func OperatorEventID(n webhook.Notice) string {
	h := sha256.Sum256([]byte(n.SubscriptionUUID + "\n" + string(n.Kind) + "\n" +
		strconv.FormatInt(n.CreatedAt.UnixMicro(), 10)))
	return "evt_" + hex.EncodeToString(h[:16])
}

// operatorLayout is the layout of the event's times: UTC with milliseconds,
// as in pusher's extension API.
const operatorLayout = "2006-01-02T15:04:05.000Z"

func operatorTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(operatorLayout)
}

// The event's data: about the subscription, then what the kind adds.
type (
	operatorSubscription struct {
		SubscriptionUUID string   `json:"subscriptionUuid"`
		OrganizationUUID string   `json:"organizationUuid"`
		Destination      string   `json:"destination"`
		EventNames       []string `json:"eventNames"`
		ContactEmail     string   `json:"contactEmail"`
	}
	operatorFailure struct {
		ErrorClass string `json:"errorClass"`
		StatusCode int    `json:"statusCode"`
		Error      string `json:"error"`
	}
	operatorFailing struct {
		operatorSubscription
		FailingSince string `json:"failingSince"`
		operatorFailure
		NextAttemptAt string `json:"nextAttemptAt,omitempty"`
		DeleteAt      string `json:"deleteAt,omitempty"`
	}
	operatorRecovered struct {
		operatorSubscription
		FailingSince string `json:"failingSince,omitempty"`
		HeldMessages int    `json:"heldMessages"`
	}
	operatorDeleted struct {
		operatorSubscription
		FailingSince string `json:"failingSince,omitempty"`
		operatorFailure
		Undelivered int `json:"undelivered"`
	}
	operatorKeyRotated struct {
		operatorSubscription
		PreviousKeyExpires string `json:"previousKeyExpires,omitempty"`
	}
)

// OperatorEvent returns the JSON body of n's event:
//
//	{"type": "subscription.<kind>", "timestamp": <n.CreatedAt>, "data": {…}}
//
// The data always names the subscription (subscriptionUuid,
// organizationUuid, destination with passwords and query values shown as
// "xxxxx", eventNames with [] for all events, contactEmail) and adds, by
// kind: failing: failingSince, errorClass, statusCode, error,
// nextAttemptAt, deleteAt; recovered: failingSince, heldMessages; deleted:
// failingSince, errorClass, statusCode, error (the last attempt),
// undelivered; key_rotated: previousKeyExpires. An unknown kind has the
// subscription only. It never holds a signing key.
func OperatorEvent(n webhook.Notice) ([]byte, error) {
	sub := operatorSubscription{
		SubscriptionUUID: n.SubscriptionUUID, OrganizationUUID: n.OrganizationUUID,
		Destination: webhook.DisplayURL(n.Destination), EventNames: n.EventNames, ContactEmail: n.To,
	}
	if sub.EventNames == nil {
		sub.EventNames = []string{}
	}
	failure := operatorFailure{ErrorClass: string(n.Failure.Class), StatusCode: n.Failure.StatusCode, Error: n.Reason()}
	var data any
	switch n.Kind {
	case webhook.NoticeFailing:
		data = operatorFailing{operatorSubscription: sub, FailingSince: operatorTime(n.CreatedAt), operatorFailure: failure,
			NextAttemptAt: operatorTime(n.NextAttemptAt), DeleteAt: operatorTime(n.DeleteAt)}
	case webhook.NoticeRecovered:
		data = operatorRecovered{operatorSubscription: sub, FailingSince: operatorTime(n.FailingSince), HeldMessages: n.HeldMessages}
	case webhook.NoticeDeleted:
		data = operatorDeleted{operatorSubscription: sub, FailingSince: operatorTime(n.FailingSince), operatorFailure: failure,
			Undelivered: n.Undelivered}
	case webhook.NoticeKeyRotated:
		data = operatorKeyRotated{operatorSubscription: sub, PreviousKeyExpires: operatorTime(n.PreviousKeyExpires)}
	default:
		data = sub
	}
	event := struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Data      any    `json:"data"`
	}{"subscription." + string(n.Kind), operatorTime(n.CreatedAt), data}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(event); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
