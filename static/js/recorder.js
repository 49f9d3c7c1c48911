// Records the call in the browser: what the stage shows, drawn on a 1280×720 canvas at 30 fps, and
// everyone's sound mixed with WebAudio, into one WebM file saved locally. Nothing is uploaded.

import { initial } from "./ui.js";
import { webmWithDuration } from "./webm.js";

const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 30;
const BACKGROUND = "#0f1115";
const TYPES = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm"];

export function recordingSupported() {
  return typeof MediaRecorder !== "undefined" && typeof HTMLCanvasElement.prototype.captureStream === "function";
}

/** `<room name> <YYYY-MM-DD HH.MM>.webm`, in local time, with no character a file system refuses. */
export function recordingFileName(roomName, startedAt) {
  const two = (n) => String(n).padStart(2, "0");
  const d = startedAt;
  const when = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}.${two(d.getMinutes())}`;
  const safe = (roomName || "Parley").replace(/[\\/:*?"<>|\u0000-\u001f]+/g, "-").trim().slice(0, 80) || "Parley";
  return `${safe} ${when}.webm`;
}

/** Hand `blob` to the browser's downloads as `name`. */
export function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Where `box` (a tile's rectangle on screen) lands on the canvas, the stage `area` scaled to fit it. */
function place(box, area) {
  const scale = Math.min(WIDTH / area.width, HEIGHT / area.height);
  const left = (WIDTH - area.width * scale) / 2;
  const top = (HEIGHT - area.height * scale) / 2;
  return { x: left + (box.left - area.left) * scale, y: top + (box.top - area.top) * scale, w: box.width * scale, h: box.height * scale };
}

export class Recorder {
  /**
   * `stage`: the tiles' container (what it shows is what is drawn); `sounds()`: the audio tracks
   * to mix now (ours and every peer's); `audioContext`: made in the click that started it (autoplay rules);
   * `onData(blob, milliseconds)`: each second's chunk, and how long the recording is with it.
   */
  constructor({ stage, sounds, audioContext, fileName, selfName, onData }) {
    this.stage = stage;
    this.selfName = selfName; // our tile says "(you)" on screen, not in the file
    this.sounds = sounds;
    this.audio = audioContext;
    this.fileName = fileName;
    this.onData = onData;
    this.sources = new Map(); // track id -> MediaStreamAudioSourceNode
    this.chunks = [];
    this.timer = null;
    this.clock = null;
    this.recorder = null;
  }

  start() {
    this.canvas = document.createElement("canvas");
    this.canvas.width = WIDTH;
    this.canvas.height = HEIGHT;
    this.context = this.canvas.getContext("2d", { alpha: false, desynchronized: true });
    this.context.imageSmoothingQuality = "low"; // scaling four pictures 30 times a second, on the CPU where there is no GPU
    this.draw();
    this.mix = this.audio.createMediaStreamDestination();
    this.syncSounds();
    this.audio.resume().catch(() => {});
    const stream = new MediaStream([...this.canvas.captureStream(FPS).getVideoTracks(), ...this.mix.stream.getAudioTracks()]);
    const mimeType = TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
    this.recorder = new MediaRecorder(stream, { mimeType, videoBitsPerSecond: 2_500_000, audioBitsPerSecond: 128_000 });
    this.recorder.addEventListener("dataavailable", (event) => {
      if (!event.data || !event.data.size) return;
      this.chunks.push(event.data);
      this.onData?.(event.data, performance.now() - this.startedAt);
    });
    this.recorder.start(1000);
    this.startedAt = performance.now();
    const tick = () => {
      this.draw();
      this.syncSounds();
    };
    try {
      this.clock = new Worker(new URL("./ticker.js", import.meta.url));
      this.clock.addEventListener("message", () => {
        tick();
        this.clock?.postMessage("done");
      });
      this.clock.postMessage(1000 / FPS);
    } catch {
      this.timer = setInterval(tick, 1000 / FPS); // no worker: a hidden tab records at a frame a second
    }
  }

  /** Stop and save the file; resolves once it is handed to the browser's downloads. */
  stop() {
    clearInterval(this.timer);
    this.clock?.terminate();
    this.clock = null;
    const recorder = this.recorder;
    if (!recorder || recorder.state === "inactive") return Promise.resolve();
    return new Promise((resolve) => {
      const milliseconds = performance.now() - this.startedAt;
      recorder.addEventListener("stop", async () => {
        for (const track of recorder.stream.getTracks()) track.stop();
        for (const source of this.sources.values()) source.disconnect();
        this.audio.close().catch(() => {});
        const file = new Blob(this.chunks, { type: "video/webm" });
        saveFile(await webmWithDuration(file, milliseconds).catch(() => file), this.fileName);
        resolve();
      }, { once: true });
      recorder.stop();
    });
  }

  /** Mix in new sound tracks, drop ended ones. */
  syncSounds() {
    const live = new Set();
    for (const track of this.sounds()) {
      if (!track || track.readyState !== "live") continue;
      live.add(track.id);
      if (this.sources.has(track.id)) continue;
      const source = this.audio.createMediaStreamSource(new MediaStream([track]));
      source.connect(this.mix);
      this.sources.set(track.id, source);
    }
    for (const [id, source] of this.sources) {
      if (!live.has(id)) {
        source.disconnect();
        this.sources.delete(id);
      }
    }
  }

  /** One frame: every tile where the stage shows it, its video cropped as on screen, its name. */
  draw() {
    const ctx = this.context;
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, WIDTH, HEIGHT);
    const area = this.stage.getBoundingClientRect();
    if (!area.width || !area.height) return;
    ctx.save();
    const clip = place(area, area);
    ctx.beginPath();
    ctx.rect(clip.x, clip.y, clip.w, clip.h);
    ctx.clip();
    for (const tile of this.stage.querySelectorAll(".tile")) {
      const box = tile.getBoundingClientRect();
      if (box.width < 2 || box.height < 2) continue;
      this.drawTile(tile, place(box, area));
    }
    ctx.restore();
  }

  drawTile(tile, spot) {
    const ctx = this.context;
    const video = tile.querySelector("video");
    ctx.save();
    ctx.beginPath();
    ctx.rect(spot.x, spot.y, spot.w, spot.h);
    ctx.clip();
    ctx.fillStyle = "#000";
    ctx.fillRect(spot.x, spot.y, spot.w, spot.h);
    const showing = video && video.readyState >= 2 && video.videoWidth && !tile.classList.contains("camera-off");
    if (showing) {
      const whole = tile.classList.contains("fit") || tile.dataset.screen === "true";
      const ratio = video.videoWidth / video.videoHeight;
      let w = spot.w;
      let h = spot.w / ratio;
      if (whole ? h > spot.h : h < spot.h) {
        h = spot.h;
        w = spot.h * ratio;
      }
      ctx.drawImage(video, spot.x + (spot.w - w) / 2, spot.y + (spot.h - h) / 2, w, h);
    } else {
      this.drawAvatar(tile, spot);
    }
    const name = this.nameOf(tile);
    if (name) {
      const size = Math.max(12, Math.min(22, spot.h / 14));
      ctx.font = `600 ${size}px system-ui, sans-serif`;
      const width = ctx.measureText(name).width;
      ctx.fillStyle = "rgba(0, 0, 0, .6)";
      ctx.fillRect(spot.x + 8, spot.y + spot.h - size * 1.7 - 8, width + size, size * 1.7);
      ctx.fillStyle = "#fff";
      ctx.fillText(name, spot.x + 8 + size / 2, spot.y + spot.h - 8 - size * 0.5);
    }
    ctx.restore();
  }

  nameOf(tile) {
    if (tile.classList.contains("local")) return this.selfName;
    return tile.querySelector(".tile-name")?.textContent || "";
  }

  drawAvatar(tile, spot) {
    const ctx = this.context;
    const radius = Math.min(spot.w, spot.h) / 5;
    ctx.fillStyle = "#2d3444";
    ctx.beginPath();
    ctx.arc(spot.x + spot.w / 2, spot.y + spot.h / 2, radius, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = "#e8eaf0";
    ctx.font = `600 ${radius}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(initial(this.nameOf(tile)), spot.x + spot.w / 2, spot.y + spot.h / 2);
    ctx.textAlign = "start";
    ctx.textBaseline = "alphabetic";
  }
}
