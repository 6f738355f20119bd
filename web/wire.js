// Frames on the WebSocket, with every integer exact. The protocol's u64s
// (cids above all: the terminal client draws them from 1 ..= 2^63 - 1)
// do not fit a double, and neighbouring cids read as doubles collide
// (PROTOCOL.md 12.5). So frames are decoded with `useBigInt64`, and every
// integer that fits a double exactly is turned back into a Number: the
// rest of the page computes with Numbers as before, and only a value
// beyond 2^53 stays a BigInt (compared, used as a key with String(), or
// sent back, never added to a Number). Encoding is the reverse: with
// `useBigInt64` the library writes an integer Number beyond 32 bits as a
// float, which the server refuses, so those go out as BigInt.
"use strict";

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

function fromWire(value) {
  if (typeof value === "bigint") return value <= MAX_EXACT && value >= -MAX_EXACT ? Number(value) : value;
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object" && !ArrayBuffer.isView(value)) {
    for (const key of Object.keys(value)) value[key] = fromWire(value[key]);
  }
  return value;
}

function toWire(value) {
  if (typeof value === "number") {
    return Number.isInteger(value) && (value > 0xffffffff || value < -0x80000000) ? BigInt(value) : value;
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object" && !ArrayBuffer.isView(value)) {
    const out = {};
    for (const key of Object.keys(value)) out[key] = toWire(value[key]);
    return out;
  }
  return value;
}

const Wire = {
  decode(bytes) {
    return fromWire(MessagePack.decode(bytes, { useBigInt64: true }));
  },
  encode(msg) {
    return MessagePack.encode(toWire(msg), { useBigInt64: true, ignoreUndefined: true });
  },
};

window.Wire = Wire;
