// Inline SVG icons (24×24, stroked; drawn after Feather's style), built with DOM APIs: no CDN, no markup strings.

const SVG = "http://www.w3.org/2000/svg";
const STRIKE = ["line", { x1: 2, y1: 2, x2: 22, y2: 22 }];

const MIC = [
  ["path", { d: "M12 2a3 3 0 0 0-3 3v7a3 3 0 0 0 6 0V5a3 3 0 0 0-3-3z" }],
  ["path", { d: "M19 10v2a7 7 0 0 1-14 0v-2M12 19v3M8 22h8" }],
];
const CAMERA = [["path", { d: "M23 7l-7 5 7 5z" }], ["rect", { x: 1, y: 5, width: 15, height: 14, rx: 2 }]];
const SCREEN = [["rect", { x: 2, y: 3, width: 20, height: 14, rx: 2 }], ["path", { d: "M8 21h8M12 17v4" }]];
const LOCK_BODY = ["rect", { x: 3, y: 11, width: 18, height: 11, rx: 2 }];

const SHAPES = {
  mic: MIC,
  "mic-off": [...MIC, STRIKE],
  camera: CAMERA,
  "camera-off": [...CAMERA, STRIKE],
  screen: [...SCREEN, ["path", { d: "M12 13V7M9 10l3-3 3 3" }]],
  "screen-off": [...SCREEN, ["path", { d: "M9 7l6 6M15 7l-6 6" }]],
  chat: [["path", { d: "M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z" }]],
  people: [
    ["path", { d: "M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2M23 21v-2a4 4 0 0 0-3-3.87M16 3.13a4 4 0 0 1 0 7.75" }],
    ["circle", { cx: 9, cy: 7, r: 4 }],
  ],
  lock: [LOCK_BODY, ["path", { d: "M7 11V7a5 5 0 0 1 10 0v4" }]],
  unlock: [LOCK_BODY, ["path", { d: "M7 11V7a5 5 0 0 1 9.9-1" }]],
  leave: [["path", { d: "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9" }]],
  help: [["circle", { cx: 12, cy: 12, r: 10 }], ["path", { d: "M9.1 9a3 3 0 0 1 5.8 1c0 2-3 3-3 3M12 17h.01" }]],
  chevron: [["path", { d: "M18 15l-6-6-6 6" }]],
  grid: [["path", { d: "M3 3h7v7H3zM14 3h7v7h-7zM14 14h7v7h-7zM3 14h7v7H3z" }]],
  speaker: [["rect", { x: 3, y: 3, width: 18, height: 12, rx: 1 }], ["path", { d: "M3 18h5v3H3zM9.5 18h5v3h-5zM16 18h5v3h-5z" }]],
  pin: [["path", { d: "M12 17v5M8 2h8M9 2v8l-3 4v3h12v-3l-3-4V2" }]],
  fullscreen: [["path", { d: "M8 3H5a2 2 0 0 0-2 2v3m18 0V5a2 2 0 0 0-2-2h-3m0 18h3a2 2 0 0 0 2-2v-3M3 16v3a2 2 0 0 0 2 2h3" }]],
  pip: [["rect", { x: 2, y: 4, width: 20, height: 16, rx: 2 }], ["rect", { x: 12, y: 12, width: 7, height: 5 }]],
  fit: [["path", { d: "M15 3h6v6M9 21H3v-6M21 3l-7 7M3 21l7-7" }]],
  offline: [["path", { d: "M5 12.5a10 10 0 0 1 5-2.6M8.5 16a5 5 0 0 1 6.5-.4M12 20h.01M16.7 11a10 10 0 0 1 2.3 1.5M1.4 9a16 16 0 0 1 4.7-2.9M10.7 5a16 16 0 0 1 11.9 4" }], STRIKE],
  close: [["path", { d: "M18 6L6 18M6 6l12 12" }]],
  hand: [["path", { d: "M18 11V6a2 2 0 0 0-4 0v4M14 10V4a2 2 0 0 0-4 0v6M10 10.5V6a2 2 0 0 0-4 0v8M18 8a2 2 0 1 1 4 0v6a8 8 0 0 1-8 8h-2c-2.8 0-4.5-.9-6-2.3l-3.6-3.6a2 2 0 0 1 2.8-2.8L7 15" }]],
  smile: [["circle", { cx: 12, cy: 12, r: 10 }], ["path", { d: "M8 14s1.5 2 4 2 4-2 4-2M9 9h.01M15 9h.01" }]],
  record: [["circle", { cx: 12, cy: 12, r: 9 }], ["circle", { cx: 12, cy: 12, r: 4, fill: "currentColor" }]],
  invite: [["path", { d: "M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2M19 8v6M22 11h-6" }], ["circle", { cx: 9, cy: 7, r: 4 }]],
  "record-stop": [["circle", { cx: 12, cy: 12, r: 9 }], ["rect", { x: 9, y: 9, width: 6, height: 6, fill: "currentColor" }]],
};

/** An <svg> icon by name; decorative (aria-hidden): the button's text or aria-label names it. */
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  for (const [key, value] of Object.entries({ viewBox: "0 0 24 24", width: 20, height: 20, fill: "none", stroke: "currentColor" })) {
    svg.setAttribute(key, String(value));
  }
  svg.setAttribute("stroke-width", "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("icon");
  for (const [tag, attributes] of SHAPES[name] || []) {
    const shape = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) shape.setAttribute(key, String(value));
    svg.append(shape);
  }
  return svg;
}

/** Give a button its icon, and its visible label a new text when `label` is given. */
export function setButton(button, name, label = null) {
  const current = button.querySelector("svg.icon");
  if (!current) button.prepend(icon(name));
  else if (button.dataset.icon !== name) current.replaceWith(icon(name));
  button.dataset.icon = name;
  if (label !== null) button.querySelector(".control-label").textContent = label;
}
