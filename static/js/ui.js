// DOM for the call page. Every piece of user text goes in through textContent.

import { gettext, interpolate } from "./i18n.js";

export const byId = (id) => document.getElementById(id);

export function element(tag, className = "", text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

const STATE_LABELS = {
  new: () => gettext("Connecting"),
  connecting: () => gettext("Connecting"),
  connected: () => gettext("Connected"),
  disconnected: () => gettext("Reconnecting"),
  failed: () => gettext("Connection failed"),
  closed: () => gettext("Closed"),
};

export function stateLabel(state) {
  return (STATE_LABELS[state] || STATE_LABELS.new)();
}

export function initial(name) {
  return (name || "?").trim().charAt(0).toUpperCase() || "?";
}

export function fillDeviceSelect(select, devices, currentId, fallbackLabel) {
  select.replaceChildren();
  devices.forEach((device, index) => {
    const option = element("option", "", device.label || interpolate(fallbackLabel, { n: index + 1 }));
    option.value = device.deviceId;
    if (device.deviceId === currentId) option.selected = true;
    select.append(option);
  });
  select.disabled = devices.length === 0;
  if (devices.length === 0) select.append(element("option", "", gettext("None found")));
}
