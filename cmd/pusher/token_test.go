package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// TestTokenAdmin: pusher token --admin mints an operator token (scope
// PUSHER:ADMIN and nothing else), bound to an organization only with --org.
func TestTokenAdmin(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	verify := func(tok string) auth.Principal {
		t.Helper()
		key, err := auth.LoadOrCreateLocalKey(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		p, err := (&auth.Verifier{Keys: key}).Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("the minted token does not verify: %v", err)
		}
		return p
	}
	p := verify(runCmd(t, "token", "-data-dir", dataDir, "--admin"))
	if !p.IsAdmin() || len(p.Scopes) != 1 || p.OrganizationUUID != "" || p.ClientID != "admin" {
		t.Errorf("--admin token = %+v, want scope %s only, no organization, client admin", p, auth.ScopeAdmin)
	}
	p = verify(runCmd(t, "token", "-data-dir", dataDir, "--admin", "--org", testOrg, "--client", "ops"))
	if !p.IsAdmin() || p.OrganizationUUID != testOrg || p.ClientID != "ops" {
		t.Errorf("--admin --org token = %+v", p)
	}
	if p := verify(runCmd(t, "token", "-data-dir", dataDir, "--org", testOrg)); p.IsAdmin() {
		t.Errorf("a subscriber token is an operator's: %+v", p)
	}
	for _, args := range [][]string{{"--admin", "--producer"}, {"--admin", "--org", "not-a-uuid"}} {
		err := run(context.Background(), append([]string{"token", "-data-dir", dataDir}, args...), envMap(nil), io.Discard, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("pusher token %v = %v, want a usage error", args, err)
		}
	}
}

// TestAdminTokenOnServe: an operator token of pusher token --admin reads
// every client's subscriptions through the extension API of pusher serve,
// and is refused by Zettle's calls, which want a subscriber token.
func TestAdminTokenOnServe(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	url, _ := startServe(t, dataDir)
	rcv := webhooktest.NewServer(t)
	do := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i, client := range []string{"app-a", "app-b"} {
		tok := runCmd(t, "token", "-data-dir", dataDir, "-org", testOrg, "-client", client)
		uuid := []string{"f02f80f8-8f35-11eb-8dcd-0242ac130003", "7c9e43ce-912c-11eb-a8b3-0242ac130003"}[i]
		if status, body := do("POST", "/organizations/self/subscriptions", tok, `{"uuid":"`+uuid+`","transportName":"WEBHOOK",
			"eventNames":[],"destination":"`+rcv.URL+`/hook","contactEmail":"ops@shop.example"}`); status != 200 {
			t.Fatalf("create = %d %s", status, body)
		}
	}
	admin := runCmd(t, "token", "-data-dir", dataDir, "--admin")
	status, body := do("GET", "/v1/organizations/"+testOrg+"/subscriptions", admin, "")
	var list struct{ Subscriptions []struct{ ClientID string } }
	if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil || len(list.Subscriptions) != 2 ||
		list.Subscriptions[0].ClientID != "app-a" || list.Subscriptions[1].ClientID != "app-b" {
		t.Errorf("operator's listing = %d %s, want both clients' subscriptions", status, body)
	}
	if status, body := do("GET", "/organizations/"+testOrg+"/subscriptions", admin, ""); status != 403 {
		t.Errorf("Zettle's GET with the operator token = %d %s, want 403", status, body)
	}
}
