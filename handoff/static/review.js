// The Review page works with plain forms (server-rendered); only signing out needs a script.
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]').content;
document.getElementById("logout").addEventListener("click", async () => {
  await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": csrf } });
  window.location = "/login";
});
