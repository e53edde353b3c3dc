// "The bot should have understood this": a button on each investor line of the transcript (inbox.js draws the
// lines and may redraw them, so the buttons are added whenever lines appear). Flagged lines join the Review page.
"use strict";
(() => {
  const transcript = document.getElementById("transcript");
  if (!transcript) return;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const flagged = new Set();

  function decorate(li) {
    const id = li.dataset.messageId;
    if (!id || li.querySelector(".flag")) return;
    const button = Object.assign(document.createElement("button"), {
      type: "button", className: "flag", title: "The bot should have understood this: send it to the Review page",
    });
    const show = () => { button.textContent = "flagged for review"; button.disabled = true; };
    button.textContent = "bot should have understood";
    if (flagged.has(id)) show();
    button.addEventListener("click", async () => {
      const resp = await fetch(`/api/messages/${id}/flag`, { method: "POST", headers: { "X-CSRF-Token": token } });
      if (resp.ok) { flagged.add(id); show(); } else { button.textContent = "could not flag"; }
    });
    li.append(button);
  }

  const scan = () => transcript.querySelectorAll("li.user").forEach(decorate);
  new MutationObserver(scan).observe(transcript, { childList: true });
  scan();
})();
