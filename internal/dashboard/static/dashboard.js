// pusher dashboard: optional auto-refresh. Every page works without it.
(function () {
  "use strict";
  // After an action the page refreshes every 2 s for a minute, to show
  // its effect (a redelivery, a replay) soon.
  var fastKey = "pusher.dashboard.fastUntil";
  function store(k, v) {
    try { window.sessionStorage.setItem(k, v); } catch (e) { /* storage off */ }
  }
  function load(k) {
    try { return window.sessionStorage.getItem(k); } catch (e) { return null; }
  }
  if (/[?&]done=/.test(location.search)) {
    store(fastKey, String(Date.now() + 60000));
  }
  // Drop the one-off ?done=… of an action from the address, so a reload
  // does not repeat its message.
  if (window.history && history.replaceState && /[?&]done=/.test(location.search)) {
    var params = new URLSearchParams(location.search);
    params.delete("done");
    params.delete("n");
    params.delete("sub");
    var q = params.toString();
    history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
  }
  var secs = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  var box = document.getElementById("autorefresh");
  if (!secs || !box) {
    return;
  }
  var key = "pusher.dashboard.autorefresh";
  var stored = null;
  try { stored = window.localStorage.getItem(key); } catch (e) { /* storage off */ }
  box.checked = stored !== "off";
  box.parentElement.hidden = false;
  var timer = 0;
  function busy() {
    var a = document.activeElement;
    if (a && a !== box && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(a.tagName)) {
      return true;
    }
    return document.querySelector("details[open]") !== null;
  }
  function schedule() {
    window.clearTimeout(timer);
    if (box.checked) {
      var fast = Date.now() < Number(load(fastKey) || 0);
      timer = window.setTimeout(tick, (fast ? Math.min(2, secs) : secs) * 1000);
    }
  }
  function tick() {
    if (busy() || document.hidden) {
      schedule();
      return;
    }
    window.location.reload();
  }
  box.addEventListener("change", function () {
    try { window.localStorage.setItem(key, box.checked ? "on" : "off"); } catch (e) { /* storage off */ }
    schedule();
  });
  document.addEventListener("visibilitychange", schedule);
  schedule();
})();
