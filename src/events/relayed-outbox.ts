/**
 * A -workers worker's outbox: appends go to the primary, the file's one writer, which answers
 * once they are on disk; reads (GetSpend, readiness) use the worker's own read-only connection.
 * One writer means one group commit for every worker's events: SQLite writers in several
 * processes take turns on a file lock whose busy wait sleeps in steps of milliseconds, which
 * cost -workers 2 two thirds of its throughput when each worker wrote for itself.
 */
import { OutboxUnavailableError, type Outbox, type OutboxEvent } from "./outbox.js";

export interface RelayedOutbox extends Outbox {
  /** The primary's answer to an append. */
  stored(id: number, errors: (string | undefined)[]): void;
}

export function relayedOutbox(reader: Outbox, send: (m: { t: "events"; id: number; events: OutboxEvent[] }) => boolean): RelayedOutbox {
  // One message per event-loop turn, with every event appended in it; it is sent without waiting
  // for the primary's answer to the previous one, so the events join the primary's next commit
  // (waiting for that answer first cost -workers 2 a round trip and a commit on every call).
  let queued: { event: OutboxEvent; resolve: () => void; reject: (err: Error) => void }[] = [];
  const waiting = new Map<number, typeof queued>();
  let nextId = 1;
  let closed = false;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = queued;
    queued = [];
    if (batch.length === 0) return;
    const id = nextId++;
    waiting.set(id, batch);
    if (!send({ t: "events", id, events: batch.map((p) => p.event) })) {
      waiting.delete(id);
      for (const p of batch) p.reject(new OutboxUnavailableError("outbox: the primary is gone"));
    }
  };
  return {
    ...reader,
    append(events) {
      if (closed) return Promise.reject(new OutboxUnavailableError("outbox closed"));
      if (events.length === 0) return Promise.resolve();
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      return Promise.all(events.map((event) => new Promise<void>((resolve, reject) => queued.push({ event, resolve, reject })))).then(() => undefined);
    },
    stored(id, errors) {
      const batch = waiting.get(id);
      waiting.delete(id);
      batch?.forEach((p, i) => (errors[i] === undefined ? p.resolve() : p.reject(new OutboxUnavailableError(errors[i]!))));
    },
    close() {
      closed = true;
      for (const batch of [queued, ...waiting.values()]) for (const p of batch) p.reject(new OutboxUnavailableError("outbox closed"));
      queued = [];
      waiting.clear();
      reader.close();
    },
  };
}
