/**
 * The outbox in a running signer: opened by every process that answers payments (one shared
 * file), and, in the one process that owns delivery (the only process, or the -workers primary),
 * its metrics, the retention pruning and Kafka delivery.
 */
import { Gauge, type Registry } from "prom-client";
import type { Logger } from "pino";
import type { EventsConfig } from "../config/load-config.js";
import type { KafkaConfig } from "./kafka-config.js";
import { openOutbox, type Outbox, type OutboxRole } from "./outbox.js";
import { startDeliveryThread } from "./delivery-thread.js";
import { StartupError } from "../startup.js";

/** Past this share of either quota (with delivery) the signer reports not ready. */
export const HIGH_WATER = 0.8;
/**
 * A WAL this long means checkpoints are not keeping up (a reader holding an old snapshot open, a
 * stopped checkpointer thread): it would grow until the disk is full, so the signer reports not
 * ready. Checkpointed, the WAL restarts and is cut back to WAL_SIZE_LIMIT (16 MB).
 */
export const WAL_ALARM_BYTES = 256 * 1024 * 1024;
const PRUNE_INTERVAL_MS = 60_000;

/** `role`: the process's part in writing the file (see OutboxOptions). */
export function openEventOutbox(cfg: EventsConfig, opts: { role?: OutboxRole } = {}): Outbox {
  try {
    return openOutboxAt(cfg, opts);
  } catch (err) {
    // A read-only file system (a locked-down container or unit) is the usual cause: say what to set.
    throw new StartupError(`cannot open the event outbox ${cfg.path}: ${(err as Error).message} (set -eventsDb to a writable path, or -events=false)`);
  }
}

function openOutboxAt(cfg: EventsConfig, opts: { role?: OutboxRole }): Outbox {
  return openOutbox({
    path: cfg.path,
    maxBytes: cfg.maxBytes,
    maxCount: cfg.maxCount,
    ...(cfg.retentionMs !== undefined && { retentionMs: cfg.retentionMs }),
    ...(opts.role && { role: opts.role }),
  });
}

/**
 * Readiness: with delivery (no retention), an outbox above the high-water mark is about to refuse
 * payments; a load balancer should send gateways elsewhere. Without delivery a full outbox is the
 * normal state (the oldest events make room), so it never makes the signer unready. Either way a
 * WAL past `walAlarmBytes` does (checkpoints have stopped keeping up).
 */
export function outboxHealth(outbox: Outbox, cfg: EventsConfig, walAlarmBytes = WAL_ALARM_BYTES): { problem(): string | undefined } {
  return {
    problem() {
      let s;
      try {
        s = outbox.stats();
      } catch (err) {
        return `event outbox unreadable: ${(err as Error).message}`;
      }
      if (s.journalProblem !== undefined) return `event outbox: ${s.journalProblem}`;
      if (s.walBytes > walAlarmBytes) {
        return `event outbox WAL at ${Math.round(s.walBytes / 1048576)} MB: checkpoints are not keeping up (a reader holding the file open in a transaction, or a stopped checkpointer)`;
      }
      if (cfg.retentionMs !== undefined) return undefined;
      if (s.depth > HIGH_WATER * cfg.maxCount || s.bytes > HIGH_WATER * cfg.maxBytes) {
        return `event outbox above its high-water mark (${s.depth} events, ${s.bytes} bytes undelivered)`;
      }
      return undefined;
    },
  };
}

/** One problem() of several: the first that has one. */
export function firstProblem(...sources: ({ problem(): string | undefined } | undefined)[]): { problem(): string | undefined } | undefined {
  const present = sources.filter((s) => s !== undefined);
  if (present.length === 0) return undefined;
  return { problem: () => present.map((s) => s.problem()).find((p) => p !== undefined) };
}

/** The outbox gauges, read from the shared file at each scrape (so the numbers cover every worker). */
export function registerOutboxMetrics(registry: Registry, outbox: Outbox): void {
  const read = () => {
    try {
      return outbox.stats();
    } catch {
      return undefined;
    }
  };
  const gauge = (name: string, help: string, pick: (s: ReturnType<Outbox["stats"]>) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const s = read();
        if (s) this.set(pick(s));
      },
    });
  gauge("lpsigner_events_outbox_depth", "Events in the outbox (undelivered, or retained without Kafka)", (s) => s.depth);
  gauge("lpsigner_events_outbox_bytes", "Bytes of the events in the outbox (key and value)", (s) => s.bytes);
  gauge("lpsigner_events_outbox_oldest_age_seconds", "Age of the oldest event in the outbox", (s) => s.oldestAgeMs / 1000);
  gauge("lpsigner_events_delivered_total", "Events delivered (to Kafka) and removed from the outbox", (s) => s.delivered);
  gauge("lpsigner_events_delivery_failed_total", "Failed delivery attempts", (s) => s.failed);
  gauge("lpsigner_events_outbox_wal_bytes", "Size of the outbox's WAL file: bounded while checkpoints keep up", (s) => s.walBytes);
}

/** Retention pruning (without Kafka) or Kafka delivery: run by one process only. */
export function startEventDuties(outbox: Outbox, cfg: EventsConfig, kafka: KafkaConfig | undefined, logger: Logger): { stop(): Promise<void> } {
  if (kafka) {
    // On a thread of its own, which alone loads the client library (about 50 MB of memory).
    return startDeliveryThread({ kafka, outbox, path: cfg.path, logger: logger.child({ component: "kafka" }) });
  }
  // On the thread that writes the file, a chunk at a time: the event loop never waits for it. One
  // pass at a time; stop() ends the one running after its chunk, before the outbox closes.
  let running: Promise<void> | undefined;
  const stopping = new AbortController();
  const prune = () => {
    running ??= outbox
      .prune(stopping.signal)
      .then(
        (n) => void (n > 0 && logger.debug({ pruned: n }, "events past their retention pruned")),
        (err: unknown) => logger.warn({ err }, "event outbox pruning failed"),
      )
      .finally(() => (running = undefined));
  };
  prune();
  const timer = cfg.retentionMs !== undefined ? setInterval(prune, Math.min(PRUNE_INTERVAL_MS, cfg.retentionMs)) : undefined;
  timer?.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      stopping.abort();
      await running;
    },
  };
}

/**
 * The outbox of the process that owns it (the single process, or the -workers primary): opened,
 * its gauges registered, and its pruning or Kafka delivery started; undefined when events are off.
 */
export function startEventOutbox(
  cfg: EventsConfig | undefined,
  kafka: KafkaConfig | undefined,
  registry: Registry,
  logger: Logger,
  role: Exclude<OutboxRole, "worker"> = "only",
): { outbox: Outbox; duties: { stop(): Promise<void> } } | undefined {
  if (!cfg) return undefined;
  const outbox = openEventOutbox(cfg, { role });
  registerOutboxMetrics(registry, outbox);
  return { outbox, duties: startEventDuties(outbox, cfg, kafka, logger) };
}
