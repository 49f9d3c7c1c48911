// "Copy invite link": copies the link of the input next to the button, says so in its status line.

import { gettext } from "./i18n.js";
import { setButton } from "./icons.js";

async function copy(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    input.select(); // no clipboard permission (plain http): the link is selected for Ctrl+C
    return document.execCommand && document.execCommand("copy");
  }
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const input = document.getElementById(button.dataset.copy);
    const status = button.closest("[data-invite]")?.querySelector(".copy-status");
    const done = await copy(input);
    if (status) status.textContent = done ? gettext("Link copied.") : gettext("Select the link and copy it.");
  });
}

const dialog = document.getElementById("invite-dialog");
const opener = document.getElementById("show-invite");
if (dialog && opener) {
  setButton(opener, "invite");
  opener.addEventListener("click", () => dialog.showModal());
}
