// The merchant's console: what a script adds to pages that work without it.
"use strict";

// Times are written in UTC; shown in the reader's own time zone, UTC kept in the tooltip.
function localTimes(root) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const at = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) {
      time.title = time.textContent;
      time.textContent = at.toLocaleString();
    }
  }
}

// A form that removes or ends something asks first (on the document: forms a live update
// brings are asked about too).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// Live updates. The server's event stream (/console/events) says only that something changed;
// the page is then fetched again, as it would be reloaded, and its live parts (each marked
// data-live="name", their rows data-key="id") replaced, unless the reader is in one: a part that
// holds the keyboard focus or a field being edited waits until the focus leaves it. What changed
// is said in the page's polite status region. Without this script, a reload does the same.
const live = {
  // Each part's markup as the server last sent it (before times were localised), and its rows.
  seen: new Map(),
  controller: null,
  timer: null,
  backoff: 0,
  fetching: false,
  again: false,
  over: false,
  // Whether a stream was open before: one opened again catches up first.
  reconnected: false,
};

function partsOf(root) {
  return new Map(Array.from(root.querySelectorAll("[data-live]"), (el) => [el.dataset.live, el]));
}

function rowsOf(part) {
  return {
    html: part.innerHTML,
    rows: new Map(Array.from(part.children, (row) => [row.dataset.key || row.outerHTML, row.outerHTML])),
  };
}

function say(text) {
  const status = document.getElementById("live-status");
  if (!status) return;
  // Emptied first, so the same words said twice are announced twice.
  status.textContent = "";
  window.setTimeout(() => { status.textContent = text; }, 100);
}

// Whether the reader is in `el`: its focus, or a field whose value they changed.
function inUse(el) {
  const active = document.activeElement;
  if (active && active !== document.body && el.contains(active)) return true;
  for (const field of el.querySelectorAll("input, textarea, select")) {
    if (field instanceof HTMLSelectElement) {
      if (Array.from(field.options).some((o) => o.selected !== o.defaultSelected)) return true;
    } else if (field.type === "checkbox" || field.type === "radio") {
      if (field.checked !== field.defaultChecked) return true;
    } else if (field.value !== field.defaultValue) {
      return true;
    }
  }
  return false;
}

function plural(n, one, many) {
  return n === 1 ? `1 ${one}` : `${n} ${many}`;
}

// What a replaced part says, given how many of its rows are new or changed.
function described(name, changed, part) {
  switch (name) {
    case "orders":
      return changed ? plural(changed, "order changed", "orders changed") : "the orders changed";
    case "timeline":
      return changed ? plural(changed, "new timeline entry", "new timeline entries") : "the timeline changed";
    case "order-facts":
      return "the order's details changed";
    case "exceptions":
      return changed ? plural(changed, "exception changed", "exceptions changed") : "the exceptions changed";
    case "nav-exceptions": {
      const count = part.querySelector(".count");
      return count ? `${count.textContent} exceptions to look at` : "no exceptions to look at";
    }
    default:
      return null;
  }
}

function replaceParts(fresh) {
  const current = partsOf(document);
  const next = partsOf(fresh);
  const said = [];
  const same = current.size === next.size && Array.from(next.keys()).every((name) => current.has(name));
  if (!same) {
    // A part came or went (a first order in an empty list): the whole of main is replaced,
    // unless the reader is in it.
    const main = document.getElementById("main");
    const freshMain = fresh.getElementById("main");
    if (!main || !freshMain || inUse(main)) {
      say("Updated: this page changed; reload it to see the changes.");
      return;
    }
    const nav = current.get("nav-exceptions");
    const freshNav = next.get("nav-exceptions");
    if (nav && freshNav && !inUse(nav)) {
      nav.replaceChildren(...Array.from(freshNav.childNodes, (n) => document.importNode(n, true)));
      live.seen.set("nav-exceptions", rowsOf(freshNav));
      localTimes(nav);
    }
    main.replaceChildren(...Array.from(freshMain.childNodes, (n) => document.importNode(n, true)));
    for (const [name, part] of partsOf(fresh)) live.seen.set(name, rowsOf(part));
    localTimes(main);
    say("Updated: this page changed.");
    return;
  }
  for (const [name, part] of current) {
    const freshPart = next.get(name);
    const before = live.seen.get(name);
    const after = rowsOf(freshPart);
    if (before && before.html === after.html) continue;
    if (inUse(part)) {
      // Later, once the reader has left it.
      part.addEventListener("focusout", () => refresh(), { once: true });
      continue;
    }
    let changed = 0;
    for (const [key, html] of after.rows) {
      if (!before || before.rows.get(key) !== html) changed += 1;
    }
    part.replaceChildren(...Array.from(freshPart.childNodes, (n) => document.importNode(n, true)));
    live.seen.set(name, after);
    localTimes(part);
    const text = described(name, changed, freshPart);
    if (text) said.push(text);
  }
  if (said.length) say(`Updated: ${said.join("; ")}.`);
}

// Fetches the page again and replaces its live parts; one fetch at a time, a change meanwhile
// fetching once more after it.
async function refresh() {
  if (live.over) return;
  if (live.fetching) {
    live.again = true;
    return;
  }
  live.fetching = true;
  try {
    const response = await fetch(window.location.href, {
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual",
      headers: { Accept: "text/html" },
    });
    if (response.type === "opaqueredirect") {
      ended();
    } else if (response.ok) {
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      replaceParts(fresh);
    }
  } catch (_) {
    // Offline for a moment: the stream's reconnection catches up.
  } finally {
    live.fetching = false;
  }
  if (live.again) {
    live.again = false;
    refresh();
  }
}

function ended() {
  live.over = true;
  stop();
  say("Your session has ended, so this page no longer updates. Reload it to sign in again.");
}

function stop() {
  if (live.controller) live.controller.abort();
  live.controller = null;
  window.clearTimeout(live.timer);
  live.timer = null;
}

function later(seconds, then) {
  window.clearTimeout(live.timer);
  live.timer = window.setTimeout(then, seconds * 1000);
}

// After a failure: again in 1, 2, 4… up to 60 seconds, spread so that tabs do not ask at once.
function reconnectLater() {
  live.backoff = Math.min(live.backoff ? live.backoff * 2 : 1, 60);
  later(live.backoff * (0.5 + Math.random() / 2), connect);
}

// Refused for now (the server's or this session's streams are as many as it keeps): the page
// is fetched again when the server says to ask again, and then it asks.
function pollLater(response) {
  const asked = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  const seconds = Number.isFinite(asked) ? Math.min(Math.max(asked, 5), 300) : 30;
  later(seconds, () => {
    refresh();
    connect();
  });
}

async function connect() {
  if (live.over || document.hidden) return;
  stop();
  const controller = new AbortController();
  live.controller = controller;
  let response;
  try {
    response = await fetch("/console/events", {
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual",
      headers: { Accept: "text/event-stream" },
      signal: controller.signal,
    });
  } catch (_) {
    if (!controller.signal.aborted) reconnectLater();
    return;
  }
  if (response.type === "opaqueredirect") {
    ended();
    return;
  }
  if (response.status === 503 || response.status === 429) {
    pollLater(response);
    return;
  }
  if (!response.ok || !response.body) {
    reconnectLater();
    return;
  }
  const caughtUp = live.backoff !== 0 || live.reconnected;
  live.backoff = 0;
  live.reconnected = true;
  // What changed while no stream listened (hidden, or reconnecting) is fetched once.
  if (caughtUp) refresh();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      for (const block of blocks) {
        const name = block.split(/\r?\n/).find((line) => line.startsWith("event:"));
        const event = name ? name.slice(6).trim() : "";
        if (event === "change") refresh();
        if (event === "end") {
          ended();
          return;
        }
      }
    }
  } catch (_) {
    // Aborted (hidden, or leaving) or cut: below.
  }
  if (!controller.signal.aborted && !live.over) reconnectLater();
}

document.addEventListener("DOMContentLoaded", () => {
  const parts = partsOf(document);
  for (const [name, part] of parts) live.seen.set(name, rowsOf(part));
  localTimes(document);
  if (!parts.size || !window.fetch || !window.TextDecoderStream) return;
  // A hidden tab holds no stream; shown again, it catches up and listens.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      stop();
      live.reconnected = true;
    } else {
      connect();
    }
  });
  connect();
});
