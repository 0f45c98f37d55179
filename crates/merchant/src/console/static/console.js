// The merchant's console: what a script adds to pages that work without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Times are written in UTC; shown in the reader's own time zone, UTC kept in the tooltip.
  for (const time of document.querySelectorAll("time[datetime]")) {
    const at = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) {
      time.title = time.textContent;
      time.textContent = at.toLocaleString();
    }
  }
  // A form that removes or ends something asks first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
