package notify

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

var update = flag.Bool("update", false, "rewrite the e-mail golden files in testdata from the current Render")

// goldenNotices are the notices whose e-mails are pinned in testdata: one
// per kind, with every optional field set.
func goldenNotices() map[string]webhook.Notice {
	recovered := baseNotice(webhook.NoticeRecovered)
	recovered.FailingSince = testAt.Add(-(2*time.Hour + 13*time.Minute + 20*time.Second))
	recovered.HeldMessages = 17

	deleted := baseNotice(webhook.NoticeDeleted)
	deleted.Failure = webhook.Failure{Class: webhook.ClassTimeout, Timeout: 10 * time.Second}
	deleted.FailingSince = testAt.Add(-72 * time.Hour)
	deleted.Undelivered = 42

	return map[string]webhook.Notice{
		"failing":   failingNotice(),
		"recovered": recovered,
		"deleted":   deleted,
	}
}

// TestRenderGolden compares each e-mail byte for byte with
// testdata/KIND.txt (a "Subject: …" line, a blank line, then the text part)
// and testdata/KIND.html. Run "go test ./internal/notify -update" to rewrite
// them, then review the diff: it is text users read.
func TestRenderGolden(t *testing.T) {
	for kind, n := range goldenNotices() {
		t.Run(kind, func(t *testing.T) {
			subject, text, html := Render(n)
			checkGolden(t, kind+".txt", "Subject: "+subject+"\n\n"+text)
			checkGolden(t, kind+".html", html)
		})
	}
}

// checkGolden compares got with testdata/name, or writes it there with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/notify -update to create it)", err)
	}
	if got == string(want) {
		return
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		g, w := lineAt(gotLines, i), lineAt(wantLines, i)
		if g != w {
			t.Errorf("%s differs from Render at line %d:\n got: %q\nwant: %q\n(if the change is intended, run go test ./internal/notify -update and review the diff)",
				path, i+1, g, w)
			return
		}
	}
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<end of file>"
}
