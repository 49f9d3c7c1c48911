// Behaviour shared by every page (no inline scripts: the CSP forbids them).
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.submit());
}
