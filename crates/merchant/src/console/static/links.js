// Payment links: the copy button beside a link's address. Without this script the address is
// plain text to select and the button stays hidden; with it, the button copies the address and
// says so in its status line (read out by screen readers).
"use strict";

for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  const said = document.getElementById(button.dataset.said);
  if (!source || !said) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const text = source.textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
      said.textContent = "Copied.";
    } catch {
      // No clipboard (an insecure origin, or refused): the address is selected to copy by hand.
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      said.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy.";
    }
  });
}
