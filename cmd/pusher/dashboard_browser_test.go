package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// chromiumPath finds the browser of the dashboard test: $PUSHER_CHROMIUM,
// else Debian's chromium (or chromium-browser) on PATH.
func chromiumPath() string {
	if p := os.Getenv("PUSHER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where the test's screenshots go: $PUSHER_ARTIFACTS/
// dashboard when set (.ci/run sets it), else the test's artifact
// directory (kept with go test -artifacts, removed otherwise).
func artifactDir(t *testing.T) string {
	if d := os.Getenv("PUSHER_ARTIFACTS"); d != "" {
		dir, err := filepath.Abs(filepath.Join(d, "dashboard"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil { // a previous run's
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.ArtifactDir()
}

const dashboardTestPassword = "browser test passphrase"

// TestDashboardInBrowser drives the dashboard of a real pusher serve in
// headless Chromium: log in, see a failing subscription on the overview,
// open it and the attempts of its message, redeliver the message once the
// receiver works again and see it delivered; redeliver it once more, count
// a replay and confirm it, delete the subscription after its confirmation
// page. Every page is saved as a full-page PNG.
func TestDashboardInBrowser(t *testing.T) {
	browserPath := chromiumPath()
	if browserPath == "" {
		t.Skip("chromium not found: skipping browser test")
	}
	dir := artifactDir(t)
	t.Logf("screenshots in %s", dir)

	// A receiver that fails every delivery until it is switched.
	rcv := webhooktest.NewServer(t)
	rcv.SetStatus(http.StatusServiceUnavailable)

	dataDir := filepath.Join(t.TempDir(), "data")
	base, _ := startServe(t, dataDir, "-retry-schedule", "100x1h", "-dashboard-password", dashboardTestPassword)
	token := runCmd(t, "token", "-data-dir", dataDir, "-org", testOrg, "-client", "demo", "-scope", "READ:PRODUCT")
	const subUUID = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	api := apiCaller(t, base, token)
	if status, body := api("POST", "/organizations/self/subscriptions", `{"uuid":"`+subUUID+`","transportName":"WEBHOOK",
		"eventNames":["ProductCreated"],"destination":"`+rcv.URL+`/zettle","contactEmail":"ops@shop.example"}`); status != 200 {
		t.Fatalf("create = %d %s", status, body)
	}
	out := runCmd(t, "publish", "-server", base, "-data-dir", dataDir, "-org", testOrg, "-event", "ProductCreated",
		"-event-id", "browser-1", "-payload", `{"uuid":"e4cc8750-a110-11eb-adc0-ffd446d76f99","name":"Crème brûlée"}`)
	_, messageID, _ := strings.Cut(out, "messageId=")
	if messageID = strings.Fields(messageID + " ")[0]; messageID == "" {
		t.Fatalf("publish printed %q", out)
	}
	// The first attempt fails (milliseconds from now, long before the
	// browser is up): the subscription is FAILING, next retried in an hour,
	// so only the redelivery below delivers the message (a retry between
	// the receiver's recovery and the click would deliver it first). Should
	// the overview come first, its auto-refresh shows the failure a few
	// seconds later.

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browserPath), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, allocOpts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()

	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("%s: %v\nat %s:\n%.3000s", what, err, loc, body)
		}
	}
	shots := 0
	shot := func(name, what string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		step("screenshot "+name, err)
		shots++
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s.png", shots, name))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s: %s", path, what)
	}
	// click clicks what sel finds and waits for the page it loads.
	click := func(what string, sel chromedp.CSS) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(sel, chromedp.NodeVisible))
		step(what, err)
		if resp.Status != http.StatusOK {
			step(what, fmt.Errorf("HTTP %d", resp.Status))
		}
	}
	wait := func(what string, sel chromedp.CSS) {
		t.Helper()
		step(what, chromedp.Do(ctx, chromedp.WaitVisible(sel)))
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		step("read "+string(sel), err)
		return s
	}

	// The login page, then the overview.
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/dashboard/"))
	step("open the dashboard", err)
	if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/dashboard/login?next=%2Fdashboard%2F") {
		t.Fatalf("the dashboard without a session answered %d at %s, want the login page", resp.Status, resp.URL)
	}
	wait("login form", "#password")
	shot("login", "the login page with the operator password form")
	step("type the password", chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#password"), dashboardTestPassword)))
	click("log in", "#password-login button[type=submit]")
	failingRow := chromedp.CSS(`#failing ~ div tr[data-subscription="` + subUUID + `"][data-status="FAILING"]`)
	wait("the overview lists the failing subscription", failingRow)
	if got := text("#count-failing"); got != "1" {
		t.Errorf("overview: %s failing subscriptions, want 1", got)
	}
	if got := text(`#failing ~ div tr[data-subscription="` + subUUID + `"] .reason`); !strings.Contains(got, "HTTP 503 from") {
		t.Errorf("overview: the failing subscription's reason is %q, want HTTP 503 from …", got)
	}
	wait("the chart", "#chart-hour polyline.failed")
	shot("overview", "the overview: activity chart, 1 failing subscription with its reason, backlog, outbox")

	// The subscriptions, filtered to the failing ones.
	click("open the subscriptions", `nav a[href="/dashboard/subscriptions"]`)
	step("filter FAILING", chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#f-status"), "FAILING")))
	click("filter", "form.filters button[type=submit]")
	wait("the filtered list", `#shown`)
	if got := text("#shown"); !strings.HasPrefix(got, "1 of 1 subscription in 1 organization.") {
		t.Errorf("filtered list says %q", got)
	}
	shot("subscriptions-failing", "organizations and subscriptions filtered to FAILING: backlog, last failure in words, next retry, time to deletion")

	// The subscription and its delivery log.
	click("open the subscription", chromedp.CSS(`tr[data-subscription="`+subUUID+`"] a[href="/dashboard/subscriptions/`+subUUID+`"]`))
	msgRow := `tr[data-message="` + messageID + `"]`
	wait("the failing message", chromedp.CSS(msgRow+`[data-state="failing"]`))
	if got := text("#sub-reason"); !strings.Contains(got, "HTTP 503 from http://127.0.0.1") {
		t.Errorf("subscription page: last failure %q", got)
	}
	shot("subscription", "the failing subscription: facts, next retry, deletion time, attempt stats, its delivery log, replay and delete")

	// The message's attempts.
	click("open the attempts", chromedp.CSS(msgRow+` a[href$="#attempts"]`))
	wait("the attempts", "table.attempts tr.failed")
	if got := text("table.attempts tr.failed .outcome"); !strings.Contains(got, "HTTP 503 from") {
		t.Errorf("attempt outcome %q", got)
	}
	wait("the envelope", "pre.envelope")
	if got := text("pre.envelope"); !strings.Contains(got, messageID) || !strings.Contains(got, `"eventName": "ProductCreated"`) {
		t.Errorf("envelope %q", got)
	}
	shot("attempts", "the message's failed attempts (HTTP 503 in words, address, response) and its envelope")

	// The receiver works again; redeliver and see the message delivered
	// (the page refreshes itself after an action).
	rcv.SetStatus(http.StatusOK)
	click("redeliver", "#redeliver button")
	wait("the redelivery notice", "p.flash")
	wait("the message delivered", `#message-state[data-state="delivered"]`)
	wait("the successful attempt", "table.attempts tr.ok")
	if n := rcv.Counts()[messageID]; n != 1 {
		t.Errorf("receiver got the message %d times answered 2xx, want 1", n)
	}
	shot("delivered", "the message after the redelivery: delivered, the successful attempt on top")

	// Redeliver the delivered message: delivered once more, one attempt more.
	attempts, err := strconv.Atoi(text("#attempt-count"))
	step("attempt count", err)
	click("redeliver again", "#redeliver button")
	wait("delivered again", chromedp.CSS(fmt.Sprintf(`#message-state[data-state="delivered"][data-attempts="%d"]`, attempts+1)))
	if n := rcv.Counts()[messageID]; n != 2 {
		t.Errorf("receiver got the message %d times answered 2xx, want 2", n)
	}
	shot("redelivered", "the delivered message redelivered: one more successful attempt")

	// Replay the last hour: the dry-run count first, then confirm.
	step("back to the subscription", chromedp.Do(ctx, chromedp.Navigate(base+"/dashboard/subscriptions/"+subUUID)))
	wait("the subscription, ACTIVE again", `h1 .badge.active`)
	click("count the replay", "#replay-count")
	wait("the dry-run count", `#replay-count[data-count="1"]`)
	shot("replay-confirm", "the replay's confirmation page: the dry-run count (1 event) and the confirm button")
	click("confirm the replay", "#replay-confirm button[type=submit]")
	wait("the replay notice", "p.flash")
	if got := text("p.flash"); got != "Replay queued 1 event for delivery." {
		t.Errorf("after the replay: %q", got)
	}
	shot("replayed", "the subscription after the confirmed replay")

	// Notifications: the failing and recovered notices.
	click("open the notifications", `nav a[href="/dashboard/notifications"]`)
	wait("the failing notice", `tr[data-kind="failing"]`)
	wait("the recovered notice", `tr[data-kind="recovered"]`)
	shot("notifications", "the outbox: the failing and the recovered notice, pending (no SMTP configured)")

	// Delete the subscription after its confirmation page.
	step("back to the subscription", chromedp.Do(ctx, chromedp.Navigate(base+"/dashboard/subscriptions/"+subUUID)))
	click("delete…", `a.button.danger`)
	wait("the confirmation", "#delete-confirm")
	shot("delete-confirm", "the deletion's confirmation page")
	click("delete", "#delete-confirm button[type=submit]")
	wait("the deletion notice", "p.flash")
	if status, body := api("GET", "/organizations/self/subscriptions", ""); status != 200 || body != "[]" {
		t.Errorf("after the deletion the API lists %d %s", status, body)
	}
	shot("deleted", "the subscriptions after the deletion")

	// The overview on a phone.
	step("phone viewport", chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(base+"/dashboard/")))
	wait("the overview on a phone", "#chart-hour")
	shot("overview-phone", "the overview at 390 px wide (a phone)")

	var ids []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	t.Logf("%d screenshots in %s: %s", len(ids), dir, strings.Join(ids, " "))
	if b, err := json.Marshal(ids); err == nil && len(ids) != shots {
		t.Errorf("%d screenshots written, %s in the directory", shots, b)
	}
}
