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
  // The session's idle timeout, as the stream says when it opens, and when the reader last
  // pressed a key or moved the pointer. A page that fetched itself again for a reader long away
  // would keep an unattended console's session alive: after half the timeout without input it
  // pauses instead, and catches up at the next key or move.
  idleMs: 0,
  lastInput: Date.now(),
  paused: false,
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

function say(text, lasting = false) {
  const status = document.getElementById("live-status");
  if (!status) return;
  // What lasts (paused, ended) shows, at the foot of the window; the rest is only heard.
  status.classList.toggle("visually-hidden", !lasting);
  status.classList.toggle("notice", lasting);
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

// The number a navigation count shows (none shown is none).
function countIn(part) {
  const count = part.querySelector(".count");
  return count ? Number.parseInt(count.textContent, 10) || 0 : 0;
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
      const n = countIn(part);
      return n ? plural(n, "exception to look at", "exceptions to look at") : "no exceptions to look at";
    }
    case "refunds":
      return changed ? plural(changed, "refund changed", "refunds changed") : "the refunds changed";
    case "order-refunds":
      return changed ? plural(changed, "refund of this order changed", "refunds of this order changed") : "the order's refunds changed";
    case "refund-facts":
      return "the refund's details changed";
    case "nav-refunds": {
      // The requests waiting for an operator's approval or refusal.
      const n = countIn(part);
      return n ? plural(n, "refund request to decide", "refund requests to decide") : "no refund requests to decide";
    }
    case "refund-requested":
    case "refund-approved":
    case "refund-sent":
    case "refund-refused":
      // A refund's actions are named by its state: a new name is a new state.
      return `the refund is now ${name.slice("refund-".length)}`;
    default:
      return null;
  }
}

function imported(node) {
  return document.importNode(node, true);
}

// The live parts inside `root`, by name, as a set of names.
function shapeOf(root) {
  return Array.from(partsOf(root).keys()).sort().join(" ");
}

// How many of a fresh part's rows are new or changed since last seen; and now seen.
function counted(name, freshPart) {
  const before = live.seen.get(name);
  const after = rowsOf(freshPart);
  let changed = 0;
  for (const [key, html] of after.rows) {
    if (!before || before.rows.get(key) !== html) changed += 1;
  }
  live.seen.set(name, after);
  return changed;
}

// A part in use waits: the page is fetched again once the reader leaves it.
function waitUntilLeft(el) {
  el.addEventListener("focusout", () => refresh(), { once: true });
}

function replaceParts(fresh) {
  const said = [];
  const tell = (name, changed, part) => {
    const text = described(name, changed, part);
    if (text) said.push(text);
  };
  // Slots first: a place whose shape may change (an empty list's note, then the list), marked
  // data-live-slot="name", is replaced whole.
  for (const slot of document.querySelectorAll("[data-live-slot]")) {
    const freshSlot = fresh.querySelector(`[data-live-slot="${CSS.escape(slot.dataset.liveSlot)}"]`);
    if (!freshSlot || (slot.tagName === freshSlot.tagName && shapeOf(slot) === shapeOf(freshSlot))) continue;
    if (inUse(slot)) {
      waitUntilLeft(slot);
      continue;
    }
    for (const [name, part] of partsOf(freshSlot)) tell(name, counted(name, part), part);
    const node = imported(freshSlot);
    slot.replaceWith(node);
    localTimes(node);
  }
  const current = partsOf(document);
  const next = partsOf(fresh);
  let unmatched = Array.from(next.keys()).some((name) => !current.has(name));
  for (const [name, part] of current) {
    const freshPart = next.get(name);
    if (!freshPart) {
      unmatched = true;
      continue;
    }
    const before = live.seen.get(name);
    if (before && before.html === freshPart.innerHTML) continue;
    if (inUse(part)) {
      waitUntilLeft(part);
      continue;
    }
    tell(name, counted(name, freshPart), freshPart);
    part.replaceChildren(...Array.from(freshPart.childNodes, imported));
    localTimes(part);
  }
  if (unmatched) said.push("reload the page to see all of it");
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
  say("Your session has ended, so this page no longer updates. Reload it to sign in again.", true);
}

// Something changed: the page is fetched again, unless the reader is away (see live.idleMs).
function changed() {
  if (live.idleMs && Date.now() - live.lastInput > live.idleMs / 2) {
    if (!live.paused) {
      live.paused = true;
      say("Live updates are paused while you are away. Press a key or move the pointer to catch up.", true);
    }
    return;
  }
  refresh();
}

function input() {
  live.lastInput = Date.now();
  if (live.paused && !live.over) {
    live.paused = false;
    say("Live updates resumed.");
    refresh();
  }
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
    changed();
    connect();
  });
}

async function connect() {
  if (live.over || document.hidden) return;
  stop();
  const controller = new AbortController();
  live.controller = controller;
  // The first stream starts where the page was drawn (body's data-feed), so a change between
  // drawing it and this stream opening is said at once; later ones catch up by fetching.
  const since = live.reconnected ? "" : document.body.dataset.feed || "";
  let response;
  try {
    response = await fetch(since ? `/console/events?since=${encodeURIComponent(since)}` : "/console/events", {
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
  if (caughtUp) changed();
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
        const lines = block.split(/\r?\n/);
        const field = (key) => {
          const line = lines.find((l) => l.startsWith(`${key}:`));
          return line ? line.slice(key.length + 1).trim() : "";
        };
        const event = field("event");
        if (event === "open") live.idleMs = Number.parseInt(field("data"), 10) || 0;
        if (event === "change") changed();
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
  for (const name of ["keydown", "pointerdown", "pointermove", "wheel", "touchstart"]) {
    document.addEventListener(name, input, { passive: true });
  }
  // A hidden tab holds no stream; shown again, it catches up and listens.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      stop();
      live.reconnected = true;
    } else {
      // Someone brought the tab forward.
      live.lastInput = Date.now();
      connect();
    }
  });
  connect();
});
