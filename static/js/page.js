// Behaviour shared by every page (no inline scripts: the CSP forbids them).
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.submit());
}

// A number with a warning above a limit (a room's capacity): said under the field while it applies.
for (const input of document.querySelectorAll("input[data-warn-above]")) {
  const warning = document.createElement("p");
  warning.className = "field-warning";
  warning.id = `${input.id}-warning`;
  warning.setAttribute("role", "status");
  input.after(warning);
  input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} ${warning.id}`.trim());
  const show = () => {
    const over = Number(input.value) > Number(input.dataset.warnAbove);
    warning.textContent = over ? input.dataset.warning : "";
    warning.hidden = !over;
  };
  input.addEventListener("input", show);
  show();
}

// A recording a closed tab left behind is offered back on the person's next page.
if (document.body.dataset.user) import("./recording_rescue.js");
