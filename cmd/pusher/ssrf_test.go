package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// -allow-http does not allow internal destinations: without
// -allow-destination-cidrs a loopback receiver is refused at create with
// 422 and gets nothing.
func TestServeRefusesLoopbackWithoutAllowList(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	url, _ := startServe(t, dataDir, "-allow-destination-cidrs=") // the last flag wins: no allow-list
	rcv := webhooktest.NewServer(t)
	token := runCmd(t, "token", "-data-dir", dataDir, "-org", testOrg, "-client", "demo", "-scope", "READ:PRODUCT")
	req, _ := http.NewRequest("POST", url+"/organizations/self/subscriptions", strings.NewReader(`{"uuid":"f02f80f8-8f35-11eb-8dcd-0242ac130003",
		"transportName":"WEBHOOK","eventNames":["ProductCreated"],"destination":"`+rcv.URL+`","contactEmail":"ops@shop.example"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"propertyName":"destination"`) {
		t.Errorf("create to %s = %d %s, want 422 with a destination violation", rcv.URL, resp.StatusCode, body)
	}
	if n := rcv.Len(); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
}

// A bad allow-list stops serve at start with an error naming the setting
// and the entry.
func TestServeRejectsBadAllowList(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"serve", "-allow-destination-cidrs", "127.0.0.0/8,10.0.0.0/33"}, nil, `"10.0.0.0/33" is not a CIDR`},
		{[]string{"serve"}, map[string]string{"PUSHER_ALLOW_DESTINATION_CIDRS": "10.1.2.3/8"}, "did you mean 10.0.0.0/8?"},
	} {
		err := run(context.Background(), tt.args, envMap(tt.env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "allow-destination-cidrs") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%v, %v) = %v, want an allow-destination-cidrs error saying %s", tt.args, tt.env, err, tt.want)
		}
	}
}
