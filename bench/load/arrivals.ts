/**
 * Constant-rate arrival times for the open-loop level. A worker thread sleeps until each arrival
 * with Atomics.wait (sub-millisecond) and posts the index of the latest one due; the main thread
 * fires every arrival up to it. setTimeout has millisecond granularity: driven by it, the client
 * sent each call up to a millisecond after its intended time (p50 0.57 ms, p99 1.15 ms late on an
 * idle machine), and the open-loop latency, measured from the intended time, counted that
 * against the signer. A busy main thread still counts: arrivals keep their intended times.
 */
import { Worker } from "node:worker_threads";

const TICKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { interval, count } = workerData;
// The first arrival is a little after the worker is up: its start-up is not the signer's latency.
const start = performance.timeOrigin + performance.now() + 2;
parentPort.postMessage({ start });
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const now = () => performance.timeOrigin + performance.now();
for (let i = 0; i < count; ) {
  const wait = start + i * interval - now();
  if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
  // Every arrival due by now (several after a preemption) in one message.
  const due = Math.min(count - 1, Math.floor((now() - start) / interval));
  if (due < i) continue;
  parentPort.postMessage(due);
  i = due + 1;
}
`;

/**
 * Calls `arrive(intended)` `rate` times a second for `durationMs`, `intended` being the arrival's
 * time on this thread's performance.now() clock; resolves after the last one.
 */
export function constantArrivals(rate: number, durationMs: number, arrive: (intended: number) => void): Promise<void> {
  const interval = 1000 / rate;
  const count = Math.floor(durationMs / interval);
  const ticker = new Worker(TICKER, { eval: true, workerData: { interval, count } });
  let startHere = NaN;
  let fired = 0;
  return new Promise((resolve, reject) => {
    ticker.on("error", reject);
    ticker.on("message", (due: number | { start: number }) => {
      if (typeof due !== "number") {
        startHere = due.start - performance.timeOrigin;
        return;
      }
      while (fired <= due) arrive(startHere + fired++ * interval);
      if (fired === count) void ticker.terminate().then(() => resolve());
    });
  });
}
