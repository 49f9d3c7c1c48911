// Gives a MediaRecorder WebM file its duration: Chrome writes none (it records live), so players
// show no length and cannot seek. The Duration element goes into the Segment's Info element;
// nothing else of the file is read or copied.

const SEGMENT = 0x18538067;
const INFO = 0x1549a966;
const DURATION = 0x4489;
const TIMECODE_SCALE = 0x2ad7b1;
const HEAD_BYTES = 4096;

/** An EBML variable-length integer at `pos`: its value (`marker`: with the length bits, as IDs are read) and length. */
function vint(bytes, pos, marker = false) {
  if (pos >= bytes.length) return null;
  const first = bytes[pos];
  let length = 1;
  let mask = 0x80;
  while (length <= 8 && !(first & mask)) {
    length += 1;
    mask >>= 1;
  }
  if (length > 8 || pos + length > bytes.length) return null;
  let value = marker ? first : first & (mask - 1);
  for (let i = 1; i < length; i += 1) value = value * 256 + bytes[pos + i];
  const unknown = !marker && value === 2 ** (7 * length) - 1;
  return { value, length, unknown };
}

/** `value` as an EBML size of exactly `length` bytes. */
function size(value, length) {
  const out = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i -= 1) {
    out[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  out[0] |= 0x80 >> (length - 1);
  return out;
}

/** The Info element of the file's Segment: where it starts, its ID and size fields, its children. */
function findInfo(bytes) {
  const header = vint(bytes, 0, true);
  const headerSize = header && vint(bytes, header.length);
  if (!headerSize) return null;
  let pos = header.length + headerSize.length + headerSize.value;
  const segment = vint(bytes, pos, true);
  if (!segment || segment.value !== SEGMENT) return null;
  const segmentSize = vint(bytes, pos + segment.length);
  if (!segmentSize || !segmentSize.unknown) return null; // a known size would have to grow too
  pos += segment.length + segmentSize.length;
  while (pos < bytes.length) {
    const id = vint(bytes, pos, true);
    const length = id && vint(bytes, pos + id.length);
    if (!length || length.unknown) return null;
    if (id.value === INFO) return { pos, id, length, data: pos + id.length + length.length };
    pos += id.length + length.length + length.value;
  }
  return null;
}

/** Whether Info has a Duration already, and its timecode scale (nanoseconds a tick; 1 ms by default). */
function infoFields(bytes, info) {
  let pos = info.data;
  let scale = 1e6;
  const end = Math.min(bytes.length, info.data + info.length.value);
  while (pos < end) {
    const id = vint(bytes, pos, true);
    const length = id && vint(bytes, pos + id.length);
    if (!length) return { duration: true, scale }; // unreadable: leave the file as it is
    if (id.value === DURATION) return { duration: true, scale };
    const start = pos + id.length + length.length;
    if (id.value === TIMECODE_SCALE) scale = [...bytes.subarray(start, start + length.value)].reduce((n, b) => n * 256 + b, 0);
    pos = start + length.value;
  }
  return { duration: false, scale: scale || 1e6 };
}

/** `blob` with a Duration of `milliseconds`, or as it was if it has one or one cannot be added. */
export async function webmWithDuration(blob, milliseconds) {
  const bytes = new Uint8Array(await blob.slice(0, HEAD_BYTES).arrayBuffer());
  const info = findInfo(bytes);
  if (!info || info.data + info.length.value > bytes.length) return blob;
  const fields = infoFields(bytes, info);
  if (fields.duration) return blob;
  const duration = new Uint8Array(11);
  duration.set([0x44, 0x89, 0x88]); // the ID, and a size of 8 bytes
  new DataView(duration.buffer).setFloat64(3, (milliseconds * 1e6) / fields.scale);
  const grown = info.length.value + duration.length;
  if (grown >= 2 ** (7 * info.length.length) - 1) return blob;
  const head = blob.slice(0, info.pos + info.id.length);
  return new Blob([head, size(grown, info.length.length), duration, blob.slice(info.data)], { type: blob.type });
}
