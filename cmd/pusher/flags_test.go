package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// Usage, printed to stderr on -h and on every flag error, never shows a
// secret from the environment: secrets not at all, URLs without their
// password and query values.
func TestUsageHidesSecrets(t *testing.T) {
	env := map[string]string{
		"PUSHER_DASHBOARD_PASSWORD":      "hunter2hunter2xx",
		"PUSHER_OPERATOR_WEBHOOK_SECRET": "supersecretvalue",
		"PUSHER_OPERATOR_WEBHOOK_URL":    "https://ops:hookpass111@ops.example/hook?token=hooktoken111",
		"PUSHER_SECRET_KEY":              "secretkey1111111",
		"PUSHER_SECRET_KEY_OLD":          "oldsecretkey1111,oldsecretkey2222",
		"PUSHER_SMTP_URL":                "smtp://apikey:smtppass111@smtp.example.com:587",
		"PUSHER_DATABASE_URL":            "postgres://pusher:dbpass111@db.example:5432/pusher?password=dbqpass111",
		"PUSHER_TOKEN":                   "bearertoken11111",
		"PUSHER_JWKS_URL":                "https://idp.example/jwks?key=jwksquery111",
	}
	secrets := []string{"hunter2hunter2xx", "supersecretvalue", "hookpass111", "hooktoken111", "secretkey1111111",
		"oldsecretkey", "smtppass111", "dbpass111", "dbqpass111", "bearertoken11111", "jwksquery111"}
	for _, args := range [][]string{
		{"serve", "-h"}, {"serve", "-bogus"}, {"serve", "-workers"},
		{"copy", "-h"}, {"publish", "-h"}, {"subs", "-h"}, {"simulate", "-h"}, {"messages", "-h"},
	} {
		var out bytes.Buffer
		run(context.Background(), args, envMap(env), &out, &out)
		for _, s := range secrets {
			if strings.Contains(out.String(), s) {
				t.Errorf("pusher %v prints the secret %q:\n%s", args, s, out.String())
			}
		}
		if args[0] != "serve" {
			continue
		}
		for _, want := range []string{
			"(set in PUSHER_DASHBOARD_PASSWORD; not shown)",
			"(set in PUSHER_OPERATOR_WEBHOOK_SECRET; not shown)",
			"(set in PUSHER_SECRET_KEY; not shown)",
			`(default "postgres://pusher:xxxxx@db.example:5432/pusher?password=xxxxx")`,
			`(default "smtp://apikey:xxxxx@smtp.example.com:587")`,
			`(default "https://ops:xxxxx@ops.example/hook?token=xxxxx")`,
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("pusher %v does not print %s:\n%s", args, want, out.String())
			}
		}
	}
	// The values are still used.
	c, err := parseServeConfig(nil, envMap(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dashboard.Password != env["PUSHER_DASHBOARD_PASSWORD"] || c.OperatorSecret != env["PUSHER_OPERATOR_WEBHOOK_SECRET"] ||
		c.SecretKey != env["PUSHER_SECRET_KEY"] || len(c.SecretKeysOld) != 2 || c.DatabaseURL != env["PUSHER_DATABASE_URL"] ||
		c.SMTPURL != env["PUSHER_SMTP_URL"] || c.OperatorURL != env["PUSHER_OPERATOR_WEBHOOK_URL"] {
		t.Errorf("settings from the environment were lost: %+v", c)
	}
	c, err = parseServeConfig([]string{"-secret-key", "fromtheflag"}, envMap(env), io.Discard)
	if err != nil || c.SecretKey != "fromtheflag" {
		t.Errorf("-secret-key does not win over the environment: %q, %v", c.SecretKey, err)
	}
}

// -dashboard-local serves without login, so serve refuses it unless it
// listens on a loopback address only.
func TestDashboardLocalNeedsLoopbackAddr(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"-dashboard-local"}, nil}, // the default :8080
		{[]string{"-dashboard-local", "-addr", "0.0.0.0:8080"}, nil},
		{[]string{"-dashboard-local", "-addr", "[::]:8080"}, nil},
		{[]string{"-dashboard-local", "-addr", "192.0.2.10:8080"}, nil},
		{[]string{"-dashboard-local", "-addr", "pusher.example:8080"}, nil},
		{[]string{"-dashboard-local", "-addr", "127.0.0.1"}, nil}, // no port
		{nil, map[string]string{"PUSHER_DASHBOARD_LOCAL": "true"}},
		{nil, map[string]string{"PUSHER_DASHBOARD_LOCAL": "true", "PUSHER_ADDR": ":9000"}},
	} {
		err := run(context.Background(), append([]string{"serve"}, tt.args...), envMap(tt.env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-addr 127.0.0.1:8080") {
			t.Errorf("serve %v with %v: %v, want a refusal naming -addr 127.0.0.1:8080", tt.args, tt.env, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:0", "127.8.9.10:80", "[::1]:8080", "localhost:8080", "LocalHost:0"} {
		if _, err := parseServeConfig([]string{"-dashboard-local", "-addr", addr}, envMap(nil), io.Discard); err != nil {
			t.Errorf("-dashboard-local -addr %s: %v", addr, err)
		}
	}
	if _, err := parseServeConfig([]string{"-dashboard-password", "a long operator passphrase"}, envMap(nil), io.Discard); err != nil {
		t.Errorf("a password login on the default :8080: %v", err)
	}
}
