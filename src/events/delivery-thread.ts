/**
 * Kafka delivery (kafka-delivery.ts) on a thread of its own, so that reading the outbox, encoding
 * produce requests and the client's network work stay off the event loop that answers payments
 * (measured in a single process under load: about 9 % of that loop's busy time). The thread reads
 * the oldest rows on a connection of its own; removals, the failure count and log lines go back to
 * the outbox and the logger of the process that owns them, once per send, not per event.
 */
import { fileURLToPath } from "node:url";
import { extname } from "node:path";
import type { Worker } from "node:worker_threads";
import type { KafkaConfig } from "./kafka-config.js";
import { startThread, type Outbox } from "./outbox.js";

export interface DeliveryThreadLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** How long stop() waits for the thread's own bounded stop (kafka-delivery's grace, and a margin). */
const STOP_WAIT_MS = 7_000;

// The thread (plain CommonJS, like the outbox's threads). A source checkout run by tsx hands it a
// .ts module, which a worker thread can import only once tsx's hooks are registered in it (Node 20
// does not carry them into workers); the built signer hands it the compiled .js.
// In: { removed: n, error? } answers, { stop: true }. Out: { delivered: seqs, n }, { failed },
// { log, obj, msg }, { fatal }, { stopped: true }.
const DELIVERY_THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlitePath);
(async () => {
  if (workerData.module.endsWith(".ts")) (await import("tsx/esm/api")).register();
  const { startKafkaDelivery } = await import(workerData.module);
  const db = new Database(workerData.path, { timeout: 1000, fileMustExist: true });
  const selOldest = db.prepare("SELECT seq, id, key, value FROM events ORDER BY seq LIMIT ?");
  const waiting = new Map();
  let next = 0;
  const outbox = {
    oldest: (limit) => selOldest.all(limit),
    delivered: (seqs) =>
      new Promise((resolve, reject) => {
        const n = next++;
        waiting.set(n, { resolve, reject });
        parentPort.postMessage({ delivered: seqs, n });
      }),
    failed: (count) => parentPort.postMessage({ failed: count }),
  };
  const log = (level) => (obj, msg) => parentPort.postMessage({ log: level, obj, msg });
  const delivery = startKafkaDelivery({ ...workerData.kafka, outbox, logger: { info: log("info"), warn: log("warn") } });
  parentPort.on("message", async (m) => {
    if (m.stop) {
      await delivery.stop();
      db.close();
      parentPort.postMessage({ stopped: true });
      return;
    }
    const w = waiting.get(m.removed);
    if (!w) return;
    waiting.delete(m.removed);
    if (m.error !== undefined) w.reject(new Error(m.error));
    else w.resolve();
  });
})().catch((err) => parentPort.postMessage({ fatal: String((err && err.message) || err) }));
`;

/** Starts delivery of `outbox` (the file at `path`) to Kafka on its own thread. */
export function startDeliveryThread(opts: { kafka: KafkaConfig; outbox: Outbox; path: string; logger: DeliveryThreadLogger }): { stop(): Promise<void> } {
  const { outbox, logger } = opts;
  const here = fileURLToPath(import.meta.url);
  const module = new URL(`./kafka-delivery${extname(here)}`, import.meta.url).href;
  const thread: Worker = startThread(DELIVERY_THREAD, { module, path: opts.path, kafka: opts.kafka });
  let stopped: (() => void) | undefined;
  let stopping = false;
  let exited = false;
  thread.on("message", (m: { delivered?: number[]; n?: number; failed?: number; log?: "info" | "warn"; obj?: object; msg?: string; fatal?: string; stopped?: true }) => {
    if (m.delivered) {
      const n = m.n!;
      outbox.delivered(m.delivered).then(
        () => thread.postMessage({ removed: n }),
        (err: Error) => thread.postMessage({ removed: n, error: err.message }),
      );
    } else if (m.failed !== undefined) {
      try {
        outbox.failed(m.failed);
      } catch {
        // a count lost to a busy file: the attempt itself is logged
      }
    } else if (m.log) logger[m.log](m.obj ?? {}, m.msg ?? "");
    else if (m.fatal !== undefined) {
      // Nothing runs in the thread now: stop() need not wait for it.
      exited = true;
      logger.error({ err: m.fatal }, "Kafka delivery could not start; events stay in the outbox");
      void thread.terminate();
    }
    else if (m.stopped) stopped?.();
  });
  thread.on("error", (err) => logger.error({ err: err.message }, "Kafka delivery thread failed; events stay in the outbox"));
  thread.on("exit", (code) => {
    if (!stopping && !exited) logger.error({ code }, "Kafka delivery thread stopped; events stay in the outbox");
    exited = true;
    stopped?.();
  });
  return {
    async stop() {
      if (exited) return;
      stopping = true;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        stopped = resolve;
        timer = setTimeout(resolve, STOP_WAIT_MS);
        thread.postMessage({ stop: true });
      });
      clearTimeout(timer);
      await thread.terminate();
    },
  };
}
