// The console's few lines of script: forms post in the background and show the answer in place,
// status and logs refresh on a timer. Every change carries the page's CSRF token in a header.
"use strict";

const token = () => document.querySelector('meta[name="csrf-token"]').content;
const offline = (text) => {
  const note = document.getElementById("offline");
  note.textContent = text || "";
  note.hidden = !text;
};

// A fragment is HTML from the console; anything else (a refusal, a failure) is one line of text.
async function fragment(response) {
  const text = await response.text();
  if ((response.headers.get("content-type") || "").startsWith("text/html")) return text;
  const list = document.createElement("ul");
  list.className = "errors";
  list.setAttribute("role", "alert");
  const item = document.createElement("li");
  item.textContent = text.trim() || `${response.status} ${response.statusText}`;
  list.appendChild(item);
  return list.outerHTML;
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.dataset.target) return;
  event.preventDefault();
  const target = document.querySelector(form.dataset.target);
  const button = form.querySelector("button[type=submit]");
  target.innerHTML = "";
  const pending = document.createElement("p");
  pending.className = "pending muted";
  pending.textContent = form.dataset.pending || "Working…";
  target.appendChild(pending);
  if (button) button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-CSRF-Token": token() },
      credentials: "same-origin",
    });
    target.innerHTML = await fragment(response);
    offline("");
    // A change was applied: read the status now rather than at the next tick.
    if (target.querySelector(".alias-applied")) document.dispatchEvent(new Event("console:changed"));
  } catch (err) {
    target.innerHTML = "";
    const line = document.createElement("p");
    line.className = "errors";
    line.setAttribute("role", "alert");
    line.textContent = `The console did not answer (${err.message}); is it still running?`;
    target.appendChild(line);
  } finally {
    if (button) button.disabled = false;
  }
});

function logsQuery() {
  const form = document.querySelector("form.logs");
  return form ? "?" + new URLSearchParams(new FormData(form)).toString() : "";
}

function poll(element) {
  const every = Math.max(Number(element.dataset.every) || 5, 2) * 1000;
  const query = element.id === "logs" ? logsQuery : () => "";
  const load = async () => {
    try {
      const response = await fetch(element.dataset.poll + query(), { credentials: "same-origin" });
      element.innerHTML = await fragment(response);
      offline("");
    } catch (err) {
      offline("The console is not answering; showing the last figures read.");
    }
  };
  load();
  setInterval(() => { if (!document.hidden) load(); }, every);
  return load;
}

document.addEventListener("DOMContentLoaded", () => {
  const loaders = {};
  document.querySelectorAll("[data-poll]").forEach((element) => {
    // The status section arrives rendered: refresh it after a first interval, not at once.
    if (element.dataset.lazy) loaders[element.id] = poll(element);
    else setTimeout(() => { loaders[element.id] = loaders[element.id] || poll(element); }, Number(element.dataset.every || 5) * 1000);
  });
  document.addEventListener("console:changed", () => {
    const status = document.getElementById("status");
    if (!status) return;
    if (loaders.status) loaders.status();
    else loaders.status = poll(status);
  });
  const logsForm = document.querySelector("form.logs");
  if (logsForm) logsForm.addEventListener("change", () => loaders.logs && loaders.logs());

  // Choosing an alias fills the weights with where config points it now.
  const aliasForm = document.querySelector("form.alias");
  if (aliasForm) {
    const aliases = JSON.parse(aliasForm.dataset.aliases || "{}");
    const fill = () => {
      const entry = aliases[aliasForm.elements.alias.value];
      let config = entry ? entry.config : null;
      let versions = {};
      let mirror = null;
      if (typeof config === "string") versions[config] = 100;
      else if (config && typeof config === "object") {
        versions = typeof config.versions === "string" ? { [config.versions]: 100 } : config.versions || {};
        mirror = config.mirror || null;
      }
      aliasForm.querySelectorAll("input.weight").forEach((input) => {
        const version = input.name.slice("weight.".length);
        input.value = versions[version] !== undefined ? versions[version] : "";
      });
      aliasForm.elements.mirror_version.value = mirror ? mirror.version || "" : "";
      aliasForm.elements.mirror_percent.value = mirror ? mirror.percent || "" : "";
    };
    aliasForm.elements.alias.addEventListener("change", fill);
    fill();
  }
});
