package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
)

// TestIsAdmin: only a token holding PUSHER:ADMIN is an operator's, whatever
// else it holds, in either form of the scope claim.
func TestIsAdmin(t *testing.T) {
	key, err := auth.LoadOrCreateLocalKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := &auth.Verifier{Keys: key}
	tests := []struct {
		scopes []string
		want   bool
	}{
		{[]string{auth.ScopeAdmin}, true},
		{[]string{"READ:PURCHASE", auth.ScopeAdmin}, true},
		{[]string{"READ:PURCHASE", "READ:PRODUCT"}, false},
		{[]string{auth.ScopePublish}, false},
		{[]string{"pusher:admin"}, false}, // scopes are case-sensitive
		{nil, false},
	}
	for _, tt := range tests {
		tok, err := key.Mint(auth.Claims{ClientID: "ops", Scope: tt.scopes}, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.IsAdmin(); got != tt.want {
			t.Errorf("IsAdmin() of a token with scopes %q = %v, want %v", tt.scopes, got, tt.want)
		}
	}
}
