// Who is speaking: the audio level of every stream, from a WebAudio AnalyserNode.

const PERIOD_MS = 200;
const THRESHOLD = 0.01; // RMS of the samples, 0..1
const HOLD_TICKS = 2; // a new speaker must lead this many periods in a row

export class SpeakerDetector {
  /**
   * `onChange(current, speaking)`: the last dominant speaker (kept through silence) and the set of
   * peers speaking now, whenever either changes. `setLevel` is the test hook.
   */
  constructor(onChange) {
    this.onChange = onChange;
    this.context = null;
    this.watched = new Map(); // peer id -> {trackId, source, analyser}
    this.forced = new Map(); // peer id -> level, the test hook
    this.levels = new Map();
    this.current = null;
    this.speaking = "";
    this.candidate = null;
    this.lead = 0;
    this.timer = null;
  }

  /** Called on a user gesture (Join) so that the AudioContext may run. */
  start() {
    if (this.timer || typeof AudioContext === "undefined") return;
    this.context = new AudioContext();
    this.timer = setInterval(() => this.tick(), PERIOD_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.context) this.context.close();
  }

  watch(peerId, stream) {
    const track = stream ? stream.getAudioTracks()[0] : null;
    const known = this.watched.get(peerId);
    if (!this.context || (known && track && known.trackId === track.id)) return;
    this.unwatch(peerId);
    if (!track) return;
    const source = this.context.createMediaStreamSource(new MediaStream([track]));
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    this.watched.set(peerId, { trackId: track.id, source, analyser, samples: new Float32Array(analyser.fftSize) });
  }

  unwatch(peerId) {
    const known = this.watched.get(peerId);
    if (known) known.source.disconnect();
    this.watched.delete(peerId);
    this.levels.delete(peerId);
    if (this.current === peerId) this.setCurrent(null);
  }

  /** Test hook: pretend `peerId` is this loud (null: listen again). */
  setLevel(peerId, level) {
    if (level === null) this.forced.delete(peerId);
    else this.forced.set(peerId, level);
  }

  level(peerId, entry) {
    if (this.forced.has(peerId)) return this.forced.get(peerId);
    entry.analyser.getFloatTimeDomainData(entry.samples);
    let sum = 0;
    for (const sample of entry.samples) sum += sample * sample;
    return Math.sqrt(sum / entry.samples.length);
  }

  tick() {
    if (this.context.state === "suspended") this.context.resume();
    let loudest = null;
    let best = THRESHOLD;
    const speaking = [];
    for (const peerId of new Set([...this.watched.keys(), ...this.forced.keys()])) {
      const entry = this.watched.get(peerId);
      const level = entry || this.forced.has(peerId) ? this.level(peerId, entry) : 0;
      // Smooth: rise at once, fall slowly, so that pauses between words keep the speaker.
      const smoothed = Math.max(level, (this.levels.get(peerId) || 0) * 0.85);
      this.levels.set(peerId, smoothed);
      if (smoothed > THRESHOLD) speaking.push(peerId);
      if (smoothed > best) {
        best = smoothed;
        loudest = peerId;
      }
    }
    const now = speaking.sort().join(" ");
    if (now !== this.speaking) {
      this.speaking = now;
      this.onChange(this.current, new Set(speaking));
    }
    if (loudest === null || loudest === this.current) {
      this.lead = 0;
      return;
    }
    this.lead = loudest === this.candidate ? this.lead + 1 : 1;
    this.candidate = loudest;
    if (this.lead >= HOLD_TICKS) this.setCurrent(loudest);
  }

  setCurrent(peerId) {
    this.current = peerId;
    this.lead = 0;
    this.onChange(peerId, new Set(this.speaking ? this.speaking.split(" ") : []));
  }
}
