package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/webhook"
)

func TestTimeClaimsInTheFuture(t *testing.T) {
	key, err := auth.LoadOrCreateLocalKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	v := &auth.Verifier{Keys: key, Now: func() time.Time { return now }}
	sign := func(c jwt.MapClaims) string {
		c["exp"] = now.Add(time.Hour).Unix()
		s, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(key.Private)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	tests := []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
		msg    string
	}{
		{"iat now", jwt.MapClaims{"iat": at(0)}, true, ""},
		{"iat within the leeway", jwt.MapClaims{"iat": at(auth.Leeway)}, true, ""},
		{"iat beyond the leeway", jwt.MapClaims{"iat": at(auth.Leeway + time.Second)}, false, "issued in the future"},
		{"iat a day ahead", jwt.MapClaims{"iat": at(24 * time.Hour)}, false, "issued in the future"},
		{"nbf within the leeway", jwt.MapClaims{"nbf": at(auth.Leeway)}, true, ""},
		{"nbf beyond the leeway", jwt.MapClaims{"nbf": at(auth.Leeway + time.Second)}, false, "not valid yet"},
		{"nbf ten minutes ahead", jwt.MapClaims{"nbf": at(10 * time.Minute)}, false, "not valid yet"},
		{"iat and nbf in the past", jwt.MapClaims{"iat": at(-time.Hour), "nbf": at(-time.Hour)}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), sign(tt.claims))
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				return
			}
			if !webhook.IsCode(err, webhook.Unauthorized) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Verify = %v, want Unauthorized %q", err, tt.msg)
			}
		})
	}
}

func TestExpiryLeeway(t *testing.T) {
	key, _ := auth.LoadOrCreateLocalKey(t.TempDir())
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	v := &auth.Verifier{Keys: key, Now: func() time.Time { return now }}
	within, _ := key.Mint(auth.Claims{}, now.Add(-time.Hour), time.Hour-auth.Leeway+time.Second)
	beyond, _ := key.Mint(auth.Claims{}, now.Add(-time.Hour), time.Hour-auth.Leeway)
	if _, err := v.Verify(context.Background(), within); err != nil {
		t.Errorf("expired %v ago = %v, want accepted", auth.Leeway-time.Second, err)
	}
	if _, err := v.Verify(context.Background(), beyond); !webhook.IsCode(err, webhook.Unauthorized) {
		t.Errorf("expired %v ago = %v, want Unauthorized", auth.Leeway, err)
	}
}

func TestOrganizationClaimIsLowerCased(t *testing.T) {
	key, _ := auth.LoadOrCreateLocalKey(t.TempDir())
	tok, _ := key.Mint(auth.Claims{OrganizationUUID: strings.ToUpper(org), ClientID: "shop"}, time.Now(), time.Hour)
	p, err := (&auth.Verifier{Keys: key}).Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.OrganizationUUID != org {
		t.Errorf("OrganizationUUID = %q, want %q", p.OrganizationUUID, org)
	}
}
