package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/webhook"
)

const org = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"

func TestLocalKeyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key, err := auth.LoadOrCreateLocalKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := auth.LoadOrCreateLocalKey(dir)
	if err != nil || again.KeyID != key.KeyID {
		t.Fatalf("reloaded key %v, %v; want the same key id %s", again, err, key.KeyID)
	}
	now := time.Now()
	tok, err := key.Mint(auth.Claims{OrganizationUUID: org, ClientID: "shop", Scope: []string{"READ:PRODUCT", "READ:PURCHASE"}}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := (&auth.Verifier{Keys: again}).Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.OrganizationUUID != org || p.ClientID != "shop" || !slices.Equal(p.Scopes, []string{"READ:PRODUCT", "READ:PURCHASE"}) {
		t.Errorf("principal = %+v", p)
	}
}

func TestVerifyRejects(t *testing.T) {
	key, _ := auth.LoadOrCreateLocalKey(t.TempDir())
	other, _ := auth.LoadOrCreateLocalKey(t.TempDir())
	now := time.Now()
	mint := func(k *auth.LocalKey, c auth.Claims, ttl time.Duration) string {
		tok, err := k.Mint(c, now, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	noExp := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"organizationUuid": org})
	noExpTok, _ := noExp.SignedString(key.Private)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()})
	hsTok, _ := hs.SignedString([]byte("secret"))
	tests := map[string]struct {
		token string
		v     *auth.Verifier
	}{
		"expired":      {mint(key, auth.Claims{}, -time.Hour), &auth.Verifier{Keys: key}},
		"wrong key":    {mint(other, auth.Claims{}, time.Hour), &auth.Verifier{Keys: key}},
		"no exp":       {noExpTok, &auth.Verifier{Keys: key}},
		"HS256":        {hsTok, &auth.Verifier{Keys: key}},
		"garbage":      {"not.a.jwt", &auth.Verifier{Keys: key}},
		"wrong issuer": {mint(key, auth.Claims{}, time.Hour), &auth.Verifier{Keys: key, Issuer: "https://oauth.zettle.com"}},
		"wrong aud":    {mint(key, auth.Claims{}, time.Hour), &auth.Verifier{Keys: key, Audience: "pusher"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tt.v.Verify(context.Background(), tt.token)
			if !webhook.IsCode(err, webhook.Unauthorized) {
				t.Errorf("Verify = %v, want Unauthorized", err)
			}
		})
	}
}

func TestAuthenticateHeader(t *testing.T) {
	key, _ := auth.LoadOrCreateLocalKey(t.TempDir())
	tok, _ := key.Mint(auth.Claims{ClientID: "c"}, time.Now(), time.Hour)
	v := &auth.Verifier{Keys: key}
	for header, ok := range map[string]bool{"Bearer " + tok: true, "bearer " + tok: true, "": false, "Basic abc": false, "Bearer ": false} {
		r := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		_, err := v.Authenticate(r)
		if (err == nil) != ok {
			t.Errorf("Authenticate(%.20q) = %v, want ok=%v", header, err, ok)
		}
	}
}

func TestJWKSWithRSA(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fetches := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches++
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(priv.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
		}}})
	}))
	defer srv.Close()
	v := &auth.Verifier{Keys: &auth.JWKS{URL: srv.URL}, Issuer: "https://oauth.zettle.com", Audience: "pusher"}
	sign := func(kid string, c jwt.MapClaims) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tk.Header["kid"] = kid
		s, err := tk.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign("k1", jwt.MapClaims{"iss": "https://oauth.zettle.com", "aud": "pusher", "exp": time.Now().Add(time.Hour).Unix(),
		"organizationUuid": org, "azp": "app", "scope": []string{"READ:PURCHASE"}})
	p, err := v.Verify(context.Background(), good)
	if err != nil || p.ClientID != "app" || !p.HasScope("READ:PURCHASE") {
		t.Fatalf("Verify(RS256 via JWKS) = %+v, %v", p, err)
	}
	if _, err := v.Verify(context.Background(), sign("k2", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})); err == nil {
		t.Error("Verify(unknown kid) succeeded")
	}
	if fetches != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (an unknown kid within MinRefresh must not refetch)", fetches)
	}
}
