/**
 * src/events/kafka-delivery.ts against a real Apache Kafka 4.x broker (KRaft, one node, Java 17 on
 * loopback; test/support/kafka-broker.ts), fed by an outbox filled directly through the Outbox
 * interface: every row arrives at least once with its id as the key and leaves the outbox only
 * once acknowledged; a session's events keep their order within one partition; rows appended one at
 * a time gather for the linger between sends; a broker outage
 * keeps rows and counts failures, and everything is delivered once it is back; a removal that fails
 * after the broker's ack is retried without sending the rows again; the same loop on the thread the
 * signer runs it on; SASL PLAIN and
 * SCRAM over TLS; stop() is bounded while the broker is down. A test consumer reads the topic.
 */
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openOutbox } from "../src/events/outbox.js";
import { startKafkaDelivery, type DeliveryLogger, type KafkaDelivery } from "../src/events/kafka-delivery.js";
import { startDeliveryThread, type DeliveryThreadLogger } from "../src/events/delivery-thread.js";
import { logKafkaSkip, readTopic, startKafkaBroker, type KafkaBroker } from "./support/kafka-broker.js";

const skip = logKafkaSkip("test/kafka-delivery.test.ts");

interface Row {
  seq: number;
  id: string;
  key: string;
  value: Uint8Array;
  createdAtMs: number;
}

/** The Outbox interface in memory, with what a test needs to look at. */
class MemOutbox {
  rows: Row[] = [];
  nextSeq = 1;
  delivered_ = 0;
  failed_ = 0;
  deliveredCount = () => this.delivered_;
  failedCount = () => this.failed_;
  append(events: { id: string; key: string; value: Uint8Array }[]): Promise<void> {
    for (const e of events) this.rows.push({ seq: this.nextSeq++, ...e, createdAtMs: Date.now() });
    return Promise.resolve();
  }
  oldest(limit: number): Row[] {
    return this.rows.slice(0, limit);
  }
  delivered(seqs: number[]): void {
    const gone = new Set(seqs);
    this.rows = this.rows.filter((r) => !gone.has(r.seq));
    this.delivered_ += seqs.length;
  }
  failed(count: number): void {
    this.failed_ += count;
  }
  depth(): number {
    return this.rows.length;
  }
}

/** The real outbox (SQLite, src/events/outbox.ts) with the same view for the checks. */
function sqliteOutbox() {
  const dir = mkdtempSync(join(tmpdir(), "lpsigner-kafka-outbox-"));
  const path = join(dir, "events.db");
  const outbox = openOutbox({ path, maxBytes: 1 << 30, maxCount: 1_000_000 });
  return Object.assign(outbox, {
    path,
    depth: () => outbox.stats().depth,
    deliveredCount: () => outbox.stats().delivered,
    failedCount: () => outbox.stats().failed,
    dispose() {
      outbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** A create_signed_ticket-shaped envelope; ids as the signer makes them: one per session and sequence number. */
function event(session: number, sequence: number) {
  const id = `ev-${session}-${sequence}`;
  const value = JSON.stringify({
    id,
    type: "create_signed_ticket",
    timestamp: Date.now(),
    gateway: "0x0000000000000000000000000000000000000001",
    data: { session_id: `state-${session}`, sequence_number: sequence, computed_fee: String(1000 + sequence) },
  });
  return { id, key: id, value: new TextEncoder().encode(value) };
}

/** A logger for the loop (info, warn) and its thread (error too), keeping each line. */
function recordingLogger() {
  const lines: string[] = [];
  const line = (level: string) => (obj: object, msg: string) => lines.push(`${level} ${msg} ${JSON.stringify(obj)}`);
  const logger: DeliveryLogger & DeliveryThreadLogger = { info: line("info"), warn: line("warn"), error: line("error") };
  return { lines, logger };
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const SASL = { username: "lpsigner", password: "kafka-test-secret-4711" };

describe.skipIf(skip)("Kafka delivery from the outbox, against a real broker", () => {
  let broker: KafkaBroker;
  const running: KafkaDelivery[] = [];

  beforeAll(async () => {
    broker = await startKafkaBroker({ partitions: 4, sasl: SASL });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(running.map((d) => d.stop()));
    await broker?.stop();
  }, 30_000);

  test("5,000 rows over 20 sessions from the SQLite outbox: each once on the topic (key = id), gone from the outbox, each session in order in one partition", async () => {
    const outbox = sqliteOutbox();
    const { logger, lines } = recordingLogger();
    const topic = "events-bulk";
    const delivery = startKafkaDelivery({ outbox, logger, brokers: [broker.bootstrap], topic });
    running.push(delivery);
    // Appended while delivery runs, in sequence order per session, sessions interleaved.
    for (let seq = 0; seq < 250; seq++) {
      await outbox.append(Array.from({ length: 20 }, (_, s) => event(s, seq)));
      delivery.wake();
      if (seq % 50 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    await until("the outbox to drain", () => outbox.depth() === 0, 30_000);
    expect(outbox.deliveredCount()).toBe(5000);
    expect(outbox.failedCount()).toBe(0);

    const messages = await readTopic(broker.bootstrap, topic, 5000, 30_000);
    expect(messages.length).toBe(5000);
    expect(new Set(messages.map((m) => m.key)).size).toBe(5000);
    for (const m of messages) expect(JSON.parse(m.value).id).toBe(m.key);
    const partitionsOf = new Map<string, Set<number>>();
    const byPartition = new Map<number, typeof messages>();
    for (const m of messages) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);
    expect(byPartition.size).toBeGreaterThan(1);
    for (const list of byPartition.values()) {
      list.sort((a, b) => (a.offset < b.offset ? -1 : 1));
      const last = new Map<string, number>();
      for (const m of list) {
        const { session_id, sequence_number } = JSON.parse(m.value).data as { session_id: string; sequence_number: number };
        expect(sequence_number).toBe((last.get(session_id) ?? -1) + 1);
        last.set(session_id, sequence_number);
        partitionsOf.set(session_id, (partitionsOf.get(session_id) ?? new Set()).add(m.partition));
      }
    }
    expect([...partitionsOf.values()].every((p) => p.size === 1)).toBe(true);
    expect(lines.filter((l) => l.startsWith("warn"))).toEqual([]);
    await delivery.stop();
    outbox.dispose();
  }, 90_000);

  test("large events (12 KB each, 600 of them) go in sends small enough for the broker's 1 MB batch limit: every one delivered, none stuck", async () => {
    const outbox = sqliteOutbox();
    const { logger, lines } = recordingLogger();
    const topic = "events-large";
    // The envelope padded as long field values would make it (a long service URL, request id, ...).
    const large = (session: number, sequence: number) => {
      const e = event(session, sequence);
      const padded = JSON.stringify({ ...JSON.parse(new TextDecoder().decode(e.value)), pad: "x".repeat(12_000) });
      return { ...e, value: new TextEncoder().encode(padded) };
    };
    // Two sessions: their partitions each get about 300 of them (3.6 MB) in the outbox at once.
    for (let seq = 0; seq < 300; seq++) await outbox.append([large(0, seq), large(1, seq)]);
    const delivery = startKafkaDelivery({ outbox, logger, brokers: [broker.bootstrap], topic, minBackoffMs: 50, maxBackoffMs: 200 });
    running.push(delivery);
    await until("the outbox to drain", () => outbox.depth() === 0, 60_000);
    expect(outbox.failedCount()).toBe(0);
    expect(lines.filter((l) => l.startsWith("warn"))).toEqual([]);
    const messages = await readTopic(broker.bootstrap, topic, 600, 30_000);
    expect(new Set(messages.map((m) => m.key)).size).toBe(600);
    await delivery.stop();
    outbox.dispose();
  }, 120_000);

  test("rows appended one at a time gather for lingerMs between sends: a few larger sends, not one per append, and every row delivered", async () => {
    const outbox = sqliteOutbox();
    const sends: number[] = [];
    const { logger, lines } = recordingLogger();
    const topic = "events-linger";
    // Looks at what the loop removes after each acknowledged send.
    const watched = Object.assign(Object.create(outbox) as typeof outbox, {
      delivered(seqs: number[]) {
        sends.push(seqs.length);
        return outbox.delivered(seqs);
      },
    });
    const delivery = startKafkaDelivery({ outbox: watched, logger, brokers: [broker.bootstrap], topic, lingerMs: 50 });
    running.push(delivery);
    // The topic created and the producer connected: the first row delivered.
    await outbox.append([event(0, 0)]);
    await until("the first row delivered", () => outbox.depth() === 0, 20_000);
    sends.length = 0;
    // One row every 2-3 ms for about 600 ms: a broker on loopback acknowledges in a few ms, so
    // without the linger nearly every row (or two) would be a send of its own.
    const started = Date.now();
    for (let seq = 1; seq <= 200; seq++) {
      await outbox.append([event(seq % 4, Math.floor(seq / 4))]);
      await new Promise((r) => setTimeout(r, 2));
    }
    const appendMs = Date.now() - started;
    await until("the outbox to drain", () => outbox.depth() === 0, 20_000);
    expect(sends.reduce((a, n) => a + n, 0)).toBe(200);
    // One send per linger (50 ms) while rows come in, and the last: with a margin for slow turns.
    expect(sends.length).toBeLessThanOrEqual(Math.ceil(appendMs / 50) + 4);
    expect(sends.length).toBeGreaterThan(1);
    const messages = await readTopic(broker.bootstrap, topic, 201, 30_000);
    expect(new Set(messages.map((m) => m.key)).size).toBe(201);
    expect(lines.filter((l) => l.startsWith("warn"))).toEqual([]);
    await delivery.stop();
    outbox.dispose();
  }, 60_000);

  test("broker down for 10 s while rows keep coming: failures counted, rows kept in the SQLite outbox; back up: every row delivered, none missing", async () => {
    const outbox = sqliteOutbox();
    const { logger, lines } = recordingLogger();
    const topic = "events-outage";
    const delivery = startKafkaDelivery({ outbox, logger, brokers: [broker.bootstrap], topic, maxBackoffMs: 1000 });
    running.push(delivery);
    let seq = 0;
    const appendSome = async (n: number) => {
      for (let i = 0; i < n; i++, seq++) await outbox.append([event(seq % 5, Math.floor(seq / 5))]);
      delivery.wake();
    };
    await appendSome(100);
    await until("the first rows delivered", () => outbox.depth() === 0, 20_000);

    await broker.pause();
    try {
      const downUntil = Date.now() + 10_000;
      while (Date.now() < downUntil) {
        await appendSome(20);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(outbox.depth()).toBeGreaterThan(1000);
      expect(outbox.failedCount()).toBeGreaterThan(0);
      expect(lines.some((l) => l.startsWith("warn Kafka delivery failed"))).toBe(true);
    } finally {
      // The other tests share the broker.
      await broker.resume();
    }
    await appendSome(100);
    await until("the outbox to drain after the outage", () => outbox.depth() === 0, 40_000);
    expect(lines.some((l) => l.startsWith("info Kafka delivery resumed"))).toBe(true);

    const messages = await readTopic(broker.bootstrap, topic, seq, 30_000);
    const ids = new Set(messages.map((m) => m.key));
    // At least once: every row, perhaps some twice (a reply lost with the broker), never one missing.
    const missing = Array.from({ length: seq }, (_, i) => `ev-${i % 5}-${Math.floor(i / 5)}`).filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
    expect(ids.size).toBe(seq);
    await delivery.stop();
    outbox.dispose();
  }, 120_000);

  test.each(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const)("SASL %s over TLS (the broker's certificate as CA) delivers", async (mechanism) => {
    const outbox = new MemOutbox();
    const { logger } = recordingLogger();
    const topic = `events-sasl-${mechanism.toLowerCase()}`;
    const delivery = startKafkaDelivery({ outbox, logger, brokers: [broker.saslBootstrap!], topic, sasl: { mechanism, ...SASL }, tls: { ca: broker.caPem } });
    running.push(delivery);
    await outbox.append(Array.from({ length: 50 }, (_, i) => event(1, i)));
    delivery.wake();
    await until("delivery over SASL_SSL", () => outbox.depth() === 0, 20_000);
    const messages = await readTopic(broker.bootstrap, topic, 50, 20_000, 300);
    expect(new Set(messages.map((m) => m.key)).size).toBe(50);
    await delivery.stop();
  }, 60_000);

  test("a wrong SASL password: nothing leaves the outbox, failures counted, the password in no log line; stop() is bounded", async () => {
    const outbox = new MemOutbox();
    const { logger, lines } = recordingLogger();
    const wrong = "wrong-password-0815";
    const delivery = startKafkaDelivery({
      outbox,
      logger,
      brokers: [broker.saslBootstrap!],
      topic: "events-refused",
      sasl: { mechanism: "SCRAM-SHA-256", username: SASL.username, password: wrong },
      tls: { ca: broker.caPem },
      maxBackoffMs: 500,
    });
    await outbox.append([event(1, 0), event(1, 1)]);
    delivery.wake();
    await until("a failed attempt", () => outbox.failedCount() >= 2, 20_000);
    expect(outbox.depth()).toBe(2);
    expect(outbox.deliveredCount()).toBe(0);
    const t0 = Date.now();
    await delivery.stop();
    expect(Date.now() - t0).toBeLessThan(7_000);
    expect(lines.join("\n")).not.toContain(wrong);
    expect(lines.join("\n")).not.toContain(SASL.password);
  }, 60_000);

  test("an outbox that fails to read twice (a disk error): the loop logs, backs off and delivers once it reads again", async () => {
    const outbox = new MemOutbox();
    let breaks = 2;
    const read = outbox.oldest.bind(outbox);
    outbox.oldest = (limit: number) => {
      if (breaks > 0) {
        breaks--;
        throw new Error("disk I/O error");
      }
      return read(limit);
    };
    const { logger, lines } = recordingLogger();
    const delivery = startKafkaDelivery({ outbox, logger, brokers: [broker.bootstrap], topic: "events-disk", minBackoffMs: 50 });
    running.push(delivery);
    await outbox.append([event(1, 0), event(1, 1)]);
    await until("delivery after the outbox recovers", () => outbox.depth() === 0, 20_000);
    expect(lines.filter((l) => l.includes("could not use the outbox"))).toHaveLength(2);
    expect((await readTopic(broker.bootstrap, "events-disk", 2, 20_000, 300)).map((m) => m.key).sort()).toEqual(["ev-1-0", "ev-1-1"]);
    await delivery.stop();
  }, 40_000);

  test("a removal that fails after Kafka acknowledged (the file's write lock held elsewhere): only the removal is retried, no row is sent twice", async () => {
    const outbox = sqliteOutbox();
    const { logger, lines } = recordingLogger();
    const topic = "events-busy-removal";
    try {
      await outbox.append([event(1, 0), event(1, 1), event(2, 0)]);
      // Another connection holds the write lock for 3 s: the writer thread's removal gives up after its 1 s busy wait.
      const other = new Database(outbox.path);
      other.exec("BEGIN IMMEDIATE");
      const delivery = startKafkaDelivery({ outbox, logger, brokers: [broker.bootstrap], topic, minBackoffMs: 50 });
      running.push(delivery);
      await new Promise((r) => setTimeout(r, 3_000));
      other.exec("ROLLBACK");
      other.close();
      await until("the removal once the lock is released", () => outbox.depth() === 0, 20_000);
      expect(lines.some((l) => l.includes("could not use the outbox") && l.includes("removal failed"))).toBe(true);
      const messages = await readTopic(broker.bootstrap, topic, 3, 20_000, 1_000);
      expect(messages.map((m) => m.key).sort()).toEqual(["ev-1-0", "ev-1-1", "ev-2-0"]);
      expect(outbox.deliveredCount()).toBe(3);
      await delivery.stop();
    } finally {
      outbox.dispose();
    }
  }, 40_000);

  test("on a thread of its own (as the signer runs it): the SQLite outbox's rows delivered once each, removed through the owning outbox, a failure's log line forwarded; stop() bounded", async () => {
    const outbox = sqliteOutbox();
    const { logger, lines } = recordingLogger();
    try {
      const events = Array.from({ length: 300 }, (_, i) => event(i % 7, Math.floor(i / 7)));
      await outbox.append(events);
      const delivery = startDeliveryThread({ kafka: { brokers: [broker.bootstrap], topic: "events-thread" }, outbox, path: outbox.path, logger });
      await until("delivery from the thread", () => outbox.depth() === 0, 30_000);
      expect(outbox.deliveredCount()).toBe(300);
      const messages = await readTopic(broker.bootstrap, "events-thread", 300, 20_000, 1_000);
      expect(messages.map((m) => m.key).sort()).toEqual(events.map((e) => e.id).sort());
      let t0 = Date.now();
      await delivery.stop();
      expect(Date.now() - t0).toBeLessThan(8_000);

      // A broker nobody listens on: the thread's warning reaches this logger; the rows stay.
      await outbox.append([event(99, 0)]);
      const nowhere = startDeliveryThread({ kafka: { brokers: ["127.0.0.1:1"], topic: "events-thread" }, outbox, path: outbox.path, logger });
      await until("a failed attempt", () => outbox.failedCount() >= 1, 20_000);
      // The count and the warning cross from the thread in two messages, the count through the
      // writer thread: either may be seen first.
      await until("the thread's warning", () => lines.some((l) => l.startsWith("warn Kafka delivery failed")), 5_000);
      t0 = Date.now();
      await nowhere.stop();
      expect(Date.now() - t0).toBeLessThan(8_000);
      expect(outbox.depth()).toBe(1);
    } finally {
      outbox.dispose();
    }
  }, 60_000);

  test("stop() while the broker is unreachable returns within its bound and keeps the rows", async () => {
    const outbox = new MemOutbox();
    const { logger } = recordingLogger();
    // A port nothing listens on.
    const delivery = startKafkaDelivery({ outbox, logger, brokers: ["127.0.0.1:1"], topic: "events-nowhere" });
    await outbox.append([event(1, 0)]);
    delivery.wake();
    await until("a failed attempt", () => outbox.failedCount() >= 1, 20_000);
    const t0 = Date.now();
    await delivery.stop();
    expect(Date.now() - t0).toBeLessThan(7_000);
    expect(outbox.depth()).toBe(1);
  }, 30_000);
});

describe("the delivery thread without its outbox file", () => {
  test("it says it could not start, once, and stop() returns at once", async () => {
    const { logger, lines } = recordingLogger();
    const outbox = new MemOutbox() as unknown as Parameters<typeof startDeliveryThread>[0]["outbox"];
    const missing = join(tmpdir(), `lpsigner-no-such-dir-${process.pid}`, "events.db");
    const delivery = startDeliveryThread({ kafka: { brokers: ["127.0.0.1:1"], topic: "events-none" }, outbox, path: missing, logger });
    await until("the thread's report", () => lines.length > 0, 20_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error Kafka delivery could not start; events stay in the outbox .*directory does not exist/);
    const t0 = Date.now();
    await delivery.stop();
    expect(Date.now() - t0).toBeLessThan(500);
  }, 30_000);
});
