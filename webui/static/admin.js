// Admin page: the update upload with a live progress bar, the install's progress polled from
// /admin/install/progress, and a confirmation before a restart.
// No inline script (CSP script-src 'self'); the CSRF token travels as the X-CSRF-Token header.
"use strict";

const INSTALL_POLL_MS = 1000;
const WAITING_POLL_MS = 5000;  // a waiting update: as often as the updater asks the evse
const INSTALL_POLL_RETRIES = 10;  // the charger may be busy writing: a few slow answers are fine

function pageCsrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function megabytes(bytes) {
  return (bytes / (1024 * 1024)).toFixed(1);
}

function showVerdict(box, verdict) {
  box.replaceChildren();
  const summary = document.createElement("p");
  const strong = document.createElement("strong");
  strong.textContent = verdict.summary;
  summary.append(strong);
  box.append(summary);
  if (verdict.details && verdict.details.length) {
    const list = document.createElement("ul");
    for (const detail of verdict.details) {
      const item = document.createElement("li");
      item.textContent = detail;
      list.append(item);
    }
    box.append(list);
  }
  box.classList.toggle("good", Boolean(verdict.ok));
  box.classList.toggle("bad", !verdict.ok);
  box.classList.toggle("error", !verdict.ok);
  box.setAttribute("role", verdict.ok ? "status" : "alert");
  box.hidden = false;
}

function startInstallProgress() {
  const box = document.querySelector("[data-install]");
  if (!box || !box.dataset.progressUrl) return null;
  const progressBox = box.querySelector("[data-install-progress]");
  const bar = progressBox.querySelector("progress");
  const step = box.querySelector("[data-install-step]");
  const message = box.querySelector("[data-install-message]");
  const restart = box.querySelector("[data-install-restart]");
  let timer = null;
  let failures = 0;

  const show = (progress) => {
    const installing = progress.phase === "installing";
    const next = installing ? INSTALL_POLL_MS : progress.phase === "waiting" ? WAITING_POLL_MS : null;
    box.dataset.phase = progress.phase;
    progressBox.hidden = !installing;
    bar.value = progress.percent;
    step.textContent = progress.step;
    message.textContent = progress.message;
    message.hidden = !progress.message;
    message.classList.toggle("error", progress.phase === "failed");
    if (restart) {
      restart.querySelector("button").textContent = progress.restart_label;
      restart.hidden = !progress.restart_now;
    }
    return next;
  };
  const poll = async () => {
    try {
      const response = await fetch(box.dataset.progressUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!response.ok) throw new Error(`the charger answered ${response.status}`);
      failures = 0;
      const next = show(await response.json());
      if (next !== null) timer = setTimeout(poll, next);
    } catch (error) {
      failures += 1;
      if (failures < INSTALL_POLL_RETRIES) {
        timer = setTimeout(poll, 2 * INSTALL_POLL_MS);
        return;
      }
      message.textContent = "The charger does not answer: reload this page in a minute.";
      message.hidden = false;
    }
  };
  const follow = () => {
    clearTimeout(timer);
    failures = 0;
    poll();
  };
  if (box.dataset.phase === "installing" || box.dataset.phase === "waiting") follow();
  return follow;
}

function startUpdateForm(followInstall) {
  const form = document.querySelector("form[data-update-form]");
  if (!form) return;
  const input = form.querySelector('input[type="file"]');
  const button = form.querySelector('button[type="submit"]');
  const progressBox = form.querySelector("[data-upload-progress]");
  const bar = progressBox.querySelector("progress");
  const status = progressBox.querySelector("[data-upload-status]");
  const verdictBox = document.querySelector("[data-update-verdict]");
  const limit = Number(form.dataset.limitBytes);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) {
      showVerdict(verdictBox, { ok: false, summary: "Choose the update .zip file first." });
      return;
    }
    if (limit && file.size > limit) {
      showVerdict(verdictBox, {
        ok: false,
        summary: `The file is larger than the ${megabytes(limit)} MB this charger accepts: it is not an update for this charger.`,
      });
      return;
    }
    const data = new FormData();
    data.append("update", file);  // the charger stores it under a name of its own
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", pageCsrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (progress) => {
      if (!progress.lengthComputable) return;
      bar.value = (100 * progress.loaded) / progress.total;
      status.textContent = `Uploading: ${Math.floor(bar.value)} % (${megabytes(progress.loaded)} of ${megabytes(progress.total)} MB)`;
    };
    xhr.upload.onload = () => {
      bar.value = 100;
      status.textContent = "Uploaded; checking the update…";
    };
    const finish = () => {
      button.disabled = false;
      input.disabled = false;
    };
    xhr.onload = () => {
      finish();
      status.textContent = "";
      progressBox.hidden = true;
      let verdict;
      try {
        verdict = JSON.parse(xhr.responseText);
      } catch (error) {
        verdict = { ok: false, summary: `The charger answered ${xhr.status}: ${xhr.responseText.slice(0, 200)}` };
      }
      showVerdict(verdictBox, verdict);
      if (verdict.ok && followInstall) followInstall();  // a good update from the installer installs now
    };
    xhr.onerror = () => {
      finish();
      progressBox.hidden = true;
      showVerdict(verdictBox, { ok: false, summary: "The upload failed: the connection to the charger was lost. Try again." });
    };
    button.disabled = true;
    input.disabled = true;
    verdictBox.hidden = true;
    bar.value = 0;
    status.textContent = "Uploading…";
    progressBox.hidden = false;
    xhr.send(data);
  });
}

function confirmRestarts() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  startUpdateForm(startInstallProgress());
  confirmRestarts();
});
