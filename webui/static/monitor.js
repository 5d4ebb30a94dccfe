// Monitor page: refresh the error log from /monitor/errors.json every few seconds.
// No inline script (CSP script-src 'self'); a hidden tab does not poll.
"use strict";

function startErrorLog() {
  const box = document.querySelector("[data-error-log]");
  if (!box) return;
  const state = document.querySelector("[data-error-log-state]");
  const periodMs = Math.max(2, Number(box.dataset.refreshS) || 5) * 1000;
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const response = await fetch(box.dataset.errorLog, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.redirected || response.status === 401) {
        if (state) state.textContent = "Logged out: reload the page to log in again.";
        return;
      }
      const data = await response.json();
      if (!data.available) {
        box.textContent = `Error log ${data.message}.`;
        if (state) state.textContent = "";
        return;
      }
      box.textContent = data.lines.length ? data.lines.join("\n") : "No errors logged.";
      if (state) state.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      if (state) state.textContent = "Not available: the charger does not answer.";
    }
  };
  setInterval(refresh, periodMs);
  document.addEventListener("visibilitychange", refresh);
}

document.addEventListener("DOMContentLoaded", startErrorLog);
