/**
 * Delivers the outbox's events to Apache Kafka, at least once: the oldest undelivered rows are
 * produced (key = the event id, value = the GatewayEvent JSON) with an idempotent producer and
 * acks from all in-sync replicas, and leave the outbox only once Kafka has acknowledged them. A
 * failed attempt is counted, the rows stay, and the loop backs off and tries the same rows again,
 * so an outage delays events but never drops one. A removal that fails is retried alone, so only a
 * crash between the ack and the removal sends a row twice, with the same id, which consumers
 * deduplicate.
 *
 * One session's events go to one partition (chosen by the event's session_id), so a consumer reads
 * them in sequence order; the message key stays the event id, as go-livepeer's consumers expect.
 */
import { isIP } from "node:net";
import { crc32 } from "node:zlib";
import { Producer, ProduceAcks, type MessageToProduce } from "@platformatic/kafka";
import type { KafkaConfig } from "./kafka-config.js";

export type { KafkaConfig } from "./kafka-config.js";

/** What delivery needs of the outbox (src/events/outbox.ts's Outbox has it). */
export interface DeliveryOutbox {
  oldest(limit: number): { seq: number; id: string; key: string; value: Uint8Array }[];
  /** Removes them; the next oldest() no longer returns them once it has resolved. */
  delivered(seqs: number[]): void | Promise<void>;
  failed(count: number): void;
}

export interface DeliveryLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface KafkaDeliveryOptions extends KafkaConfig {
  outbox: DeliveryOutbox;
  logger: DeliveryLogger;
  /** Rows per produce request (default 500). */
  batchSize?: number;
  /**
   * Bytes (keys and values) per produce request, at least one row (default 512 KiB): a broker
   * refuses a partition's batch over its message.max.bytes (1 MiB by default), and refuses it
   * again on every retry, so a send of 500 large events would never leave.
   */
  maxSendBytes?: number;
  /** How often an empty outbox is looked at again without wake() (default 50 ms). */
  idleMs?: number;
  /**
   * After a send that took less than a full batch, how long rows gather before the next (default
   * 100 ms; as a Kafka producer's linger.ms): fewer, larger sends and removals cost the signer and
   * the broker less per event. Against 20 ms, -workers 2 with Kafka kept 84-85 % of its embedded
   * outbox's throughput instead of 51-67 % (2-core machine, broker beside it).
   */
  lingerMs?: number;
  /** Backoff after a failed attempt: doubles from minBackoffMs up to maxBackoffMs (defaults 200 ms, 10 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface KafkaDelivery {
  /** New rows were appended: look now rather than at the next idle tick. */
  wake(): void;
  /** Finishes the attempt in flight (bounded), then closes the producer. */
  stop(): Promise<void>;
}

/** How long stop() waits for an attempt in flight before it closes the connections under it. */
const STOP_GRACE_MS = 5_000;
/** A failing broker is logged at most this often (the first failure always). */
const FAILURE_LOG_INTERVAL_MS = 30_000;

export function startKafkaDelivery(opts: KafkaDeliveryOptions): KafkaDelivery {
  const { outbox, logger, topic } = opts;
  const batchSize = opts.batchSize ?? 500;
  const maxSendBytes = opts.maxSendBytes ?? 512 * 1024;
  const idleMs = opts.idleMs ?? 50;
  const lingerMs = opts.lingerMs ?? 100;
  const minBackoffMs = opts.minBackoffMs ?? 200;
  const maxBackoffMs = opts.maxBackoffMs ?? 10_000;

  let stopping = false;
  let producer: Producer | undefined;
  let wakeSleep: (() => void) | undefined;
  let failures = 0;
  let lastFailureLog = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wakeSleep = undefined;
        resolve();
      }
      wakeSleep = done;
    });

  const newProducer = () =>
    new Producer({
      clientId: "lpsigner",
      bootstrapBrokers: opts.brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      // The client's own retries ride out a leader move; longer outages are this loop's backoff.
      retries: 3,
      retryDelay: 250,
      connectTimeout: 5_000,
      requestTimeout: 15_000,
      // Created on first write when the broker allows it; otherwise the operator creates the topic.
      autocreateTopics: true,
      sasl: opts.sasl,
      tls: opts.tls,
      // SNI with the broker's host name (brokers behind one TLS front need it); none for IPs.
      tlsServerName: opts.tls !== undefined && opts.brokers.some((b) => !isIP(b.replace(/^\[|\]?:\d+$/g, ""))),
    });

  let partitions = 0;
  // Rows Kafka has acknowledged whose removal failed (the outbox busy or erroring): only their
  // removal is tried again, before anything is read, so they are not sent a second time.
  let acknowledged: number[] | undefined;
  const attempt = async (): Promise<"idle" | "sent" | "full" | "failed"> => {
    if (acknowledged) {
      await outbox.delivered(acknowledged);
      acknowledged = undefined;
    }
    const rows = withinBytes(outbox.oldest(batchSize), maxSendBytes);
    if (rows.length === 0) return "idle";
    try {
      if (!producer) {
        producer = newProducer();
        // The topic's partition count, before the first message is placed (creating the topic when the broker allows).
        const metadata = await producer.metadata({ topics: [topic], autocreateTopics: true });
        partitions = metadata.topics.get(topic)?.partitionsCount ?? 0;
        if (partitions < 1) throw new Error(`topic ${topic} has no partitions`);
      }
      const messages: MessageToProduce[] = rows.map((r) => {
        const value = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        return { topic, key: Buffer.from(r.key), value, partition: sessionPartition(r.key, value, partitions) };
      });
      await producer.send({ messages });
    } catch (err) {
      outbox.failed(rows.length);
      failures++;
      const now = Date.now();
      if (failures === 1 || now - lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
        lastFailureLog = now;
        logger.warn({ err: describe(err), failedAttempts: failures, brokers: opts.brokers.join(","), topic }, "Kafka delivery failed; events stay in the outbox and are retried");
      }
      // A fresh producer (new connections, new producer id) for the next attempt.
      const old = producer;
      producer = undefined;
      if (old) await forceClose(old);
      return "failed";
    }
    acknowledged = rows.map((r) => r.seq);
    await outbox.delivered(acknowledged);
    acknowledged = undefined;
    if (failures > 0) {
      logger.info({ failedAttempts: failures, topic }, "Kafka delivery resumed");
      failures = 0;
    }
    return rows.length < batchSize && !rows.cut ? "sent" : "full";
  };

  const loop = (async () => {
    while (!stopping) {
      let result: "idle" | "sent" | "full" | "failed";
      try {
        result = await attempt();
      } catch (err) {
        // The outbox itself failed (a read or a removal): the loop must outlive it, and try again.
        failures++;
        logger.warn({ err: describe(err) }, "Kafka delivery could not use the outbox; retrying");
        result = "failed";
      }
      if (stopping) break;
      if (result === "idle") await sleep(idleMs);
      else if (result === "sent") await sleep(lingerMs);
      else if (result === "failed") {
        const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(failures - 1, 20));
        // Jitter: several signers recovering together do not hit the broker in step.
        await sleep(base * (0.8 + Math.random() * 0.4));
      }
    }
  })();

  return {
    wake: () => wakeSleep?.(),
    stop: async () => {
      stopping = true;
      wakeSleep?.();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([loop, new Promise((r) => (timer = setTimeout(r, STOP_GRACE_MS)))]);
      clearTimeout(timer);
      if (producer) await forceClose(producer);
      producer = undefined;
    },
  };
}

/** The oldest rows whose keys and values fit in maxBytes (the first always); `cut` when some were left for the next send. */
function withinBytes<R extends { key: string; value: Uint8Array }>(rows: R[], maxBytes: number): R[] & { cut?: boolean } {
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    bytes += rows[i]!.key.length + rows[i]!.value.byteLength;
    if (bytes > maxBytes && i > 0) return Object.assign(rows.slice(0, i), { cut: true });
  }
  return rows;
}

/** Closes at once, dropping requests in flight (their rows stay in the outbox). */
function forceClose(p: Producer): Promise<void> {
  return new Promise((resolve) => p.close(true, () => resolve()));
}

const SESSION_FIELD = Buffer.from('"session_id":"');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The partition of an event's session (its data.session_id), else of its key. */
export function sessionPartition(key: string, value: Buffer, count: number): number {
  return crc32(sessionOf(value) ?? key) % count;
}

/**
 * data.session_id of a GatewayEvent's JSON, found in the bytes without parsing the event (parsing
 * cost the delivery about a tenth of its time). The first `"session_id":"` is the key itself: a
 * string's own quotes are escaped, so no string holds that sequence. A value with an escape, or
 * no such key, is parsed.
 */
function sessionOf(value: Buffer): string | undefined {
  const at = value.indexOf(SESSION_FIELD);
  if (at >= 0) {
    const start = at + SESSION_FIELD.length;
    const end = value.indexOf(QUOTE, start);
    const backslash = value.indexOf(BACKSLASH, start);
    if (end > start && (backslash < 0 || backslash > end)) return value.toString("utf8", start, end);
    if (end === start) return undefined;
  }
  try {
    const session = (JSON.parse(value.toString("utf8")) as { data?: { session_id?: unknown } }).data?.session_id;
    return typeof session === "string" && session !== "" ? session : undefined;
  } catch {
    return undefined; // not JSON: placed by its key
  }
}

/** An error's message and its causes' (the client wraps the broker's), never a stack. */
function describe(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 4; i++) {
    parts.push(e instanceof Error ? e.message : String(e));
    const inner = e as { cause?: unknown; errors?: unknown[] };
    e = inner.errors?.[0] ?? inner.cause;
  }
  return parts.join(": ");
}
