// The chat panel: the log and the message form; links in messages open in a new tab.

import { element } from "./ui.js";

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING = /[.,;:!?)\]}]+$/;

/** A web address as a safe link, or null: only http and https, never javascript: and the like. */
export function chatLink(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  const link = element("a", "chat-link", text);
  link.href = url.href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  return link;
}

/** The message text as text nodes and links (never markup): `https://…` becomes a link. */
export function chatText(text) {
  const paragraph = element("p", "chat-text");
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const address = match[0].replace(TRAILING, "");
    const link = chatLink(address);
    if (!link) continue;
    paragraph.append(document.createTextNode(text.slice(last, match.index)), link);
    last = match.index + address.length;
  }
  paragraph.append(document.createTextNode(text.slice(last)));
  return paragraph;
}

function setTime(when, ts) {
  const date = new Date(ts);
  if (Number.isNaN(date.getTime())) return;
  when.dateTime = date.toISOString();
  when.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** The chat panel. */
export class ChatPanel {
  constructor(log) {
    this.log = log;
  }

  /** Submitting the form hands the trimmed text to `send` and empties the input. */
  bind(form, input, send) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      send(text);
      input.value = "";
    });
  }

  /** A message in the log; `ts` null: one of ours still on its way (see outbox.js). */
  add({ name, text, ts, mine }) {
    const item = element("li", mine ? "chat-message mine" : "chat-message");
    const head = element("div", "chat-head");
    const when = element("time", "chat-time meta");
    if (ts) setTime(when, ts);
    head.append(element("span", "chat-name", name), when);
    item.append(head, chatText(text));
    this.log.append(item);
    this.log.scrollTop = this.log.scrollHeight;
    return { item, when };
  }

  /** Our message reached the server: it gets the server's time and looks like any other. */
  delivered(view, ts) {
    setTime(view.when, ts);
    view.item.classList.remove("pending", "failed");
    view.item.dataset.state = "delivered";
    view.item.removeAttribute("aria-busy");
    view.status.remove();
  }

  notice(text) {
    this.log.append(element("li", "chat-notice meta", text));
    this.log.scrollTop = this.log.scrollHeight;
  }
}
