// ChargeOS web configurator: live values without reload, CSRF header on fetches.
// No inline script anywhere (CSP script-src 'self').
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function startLive() {
  if (!document.querySelector("[data-live]")) return;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let socket;
  let retries = 0;
  const connect = () => {
    socket = new WebSocket(`${scheme}//${location.host}/api/live`);
    socket.onmessage = (event) => {
      retries = 0;
      const data = JSON.parse(event.data);
      for (const [key, value] of Object.entries(data.evse || {})) {
        document.querySelectorAll(`[data-live="${key}"]`).forEach((node) => { node.textContent = value; });
      }
      document.dispatchEvent(new CustomEvent("chargeos:live", { detail: data }));
    };
    socket.onclose = () => {
      if (retries++ < 20) setTimeout(connect, Math.min(1000 * retries, 10000));
    };
  };
  connect();
}

window.chargeos = { csrfToken };
document.addEventListener("DOMContentLoaded", startLive);
