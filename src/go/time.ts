/**
 * Go time.Time JSON form (RFC 3339 with nanoseconds) as nanoseconds since the Unix epoch.
 * Go's zero time, 0001-01-01T00:00:00Z, marks "never updated".
 */
import { INT64_MAX, INT64_MIN } from "./int64.js";

const NS_PER_SEC = 1_000_000_000n;

/** Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

export const GO_ZERO_TIME_NS = BigInt(daysFromCivil(1, 1, 1)) * 86_400n * NS_PER_SEC;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/;

/** Parses Go's time.Time JSON text; returns undefined when it is not RFC 3339. */
export function parseGoTime(text: string): bigint | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth[mo - 1]! || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetSec = 0;
  if (m[8] !== "Z") {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetSec = (m[9] === "-" ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const seconds = BigInt(daysFromCivil(y, mo, d)) * 86_400n + BigInt(h * 3600 + mi * 60 + s - offsetSec);
  // Go reads any number of fraction digits and keeps nanoseconds.
  const nanos = m[7] ? BigInt(m[7].slice(0, 9).padEnd(9, "0")) : 0n;
  return seconds * NS_PER_SEC + nanos;
}

/** Formats like Go's time.Time MarshalJSON in UTC: fraction with trailing zeros trimmed. */
export function formatGoTime(ns: bigint): string {
  let sec = ns / NS_PER_SEC;
  let frac = ns % NS_PER_SEC;
  if (frac < 0n) {
    frac += NS_PER_SEC;
    sec -= 1n;
  }
  const fraction = frac === 0n ? "" : "." + frac.toString().padStart(9, "0").replace(/0+$/, "");
  return `${formatSeconds(sec)}${fraction}Z`;
}

// Every state carries the time of its call: the calendar part changes once a second.
let lastSeconds: { sec: bigint; text: string } | undefined;

/** "YYYY-MM-DDTHH:MM:SS" of whole seconds since the epoch; throws outside Go's years 0-9999. */
function formatSeconds(sec: bigint): string {
  if (lastSeconds?.sec === sec) return lastSeconds.text;
  let days = sec / 86_400n;
  let rem = sec % 86_400n;
  if (rem < 0n) {
    rem += 86_400n;
    days -= 1n;
  }
  const [y, mo, d] = civilFromDays(Number(days));
  if (y < 0 || y > 9999) throw new RangeError("Time.MarshalJSON: year outside of range [0,9999]");
  const r = Number(rem);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const text = `${String(y).padStart(4, "0")}-${p2(mo)}-${p2(d)}T${p2(Math.floor(r / 3600))}:${p2(Math.floor(r / 60) % 60)}:${p2(r % 60)}`;
  lastSeconds = { sec, text };
  return text;
}

/** time.Duration is an int64 of nanoseconds. */
const MAX_DURATION = INT64_MAX;
const MIN_DURATION = INT64_MIN;

/** Go's t.Sub(u).Seconds(): the difference saturated to an int64 of nanoseconds, as a float. */
export function elapsedSeconds(nowNs: bigint, thenNs: bigint): number {
  let d = nowNs - thenNs;
  if (d > MAX_DURATION) d = MAX_DURATION;
  if (d < MIN_DURATION) d = MIN_DURATION;
  const sec = d / NS_PER_SEC;
  const nsec = d % NS_PER_SEC;
  return Number(sec) + Number(nsec) / 1e9;
}
