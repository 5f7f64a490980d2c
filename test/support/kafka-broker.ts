/**
 * A real Apache Kafka 4.x broker for tests: one KRaft node (controller and broker in one JVM) on
 * 127.0.0.1, run with the machine's Java 17 from Maven Central's jars, which .ci/run copies into a
 * cache dir with test/support/kafka/fetch-jars.sh. The test owns its start-up and shutdown.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from "node:fs";
import { createServer, connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { Consumer, MessagesStreamModes } from "@platformatic/kafka";
import { generate } from "selfsigned";

/** Keep in step with test/support/kafka/pom.xml. */
export const KAFKA_VERSION = "4.1.1";

export function kafkaLibsDir(): string {
  return process.env.LPSIGNER_KAFKA_LIBS ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "lpsigner-tools", `kafka-${KAFKA_VERSION}`);
}

/** Why a Kafka test cannot run here (no Java, no jars), or undefined when it can. */
export function kafkaMissing(): string | undefined {
  if (spawnSync("java", ["-version"], { stdio: "ignore" }).status !== 0) return "no java on PATH";
  if (!existsSync(join(kafkaLibsDir(), ".complete"))) return `no Kafka jars in ${kafkaLibsDir()} (run bash test/support/kafka/fetch-jars.sh)`;
  return undefined;
}

/** One visible line for a developer's run; CI fails on the skipped test. */
export function logKafkaSkip(file: string): boolean {
  const why = kafkaMissing();
  if (why) console.log(`SKIPPED ${file}: ${why}`);
  return why !== undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

export interface SaslUser {
  username: string;
  password: string;
}

export interface BrokerOptions {
  /** Partitions of auto-created topics. */
  partitions?: number;
  /** Adds a SASL_SSL listener (PLAIN and SCRAM-SHA-256/512) with a self-signed certificate for 127.0.0.1. */
  sasl?: SaslUser;
}

export interface KafkaBroker {
  /** PLAINTEXT listener, host:port. */
  bootstrap: string;
  /** SASL_SSL listener, host:port, when asked for. */
  saslBootstrap?: string;
  /** The SASL_SSL listener's certificate (PEM), which a client trusts as its CA. */
  caPem?: string;
  /** Stops the JVM, keeping its data (a broker outage). */
  pause(): Promise<void>;
  /** Starts it again on the same ports and data. */
  resume(): Promise<void>;
  /** Stops it and removes its data. */
  stop(): Promise<void>;
  /** The broker's log (stdout and stderr), for a failing test's message. */
  log(): string;
}

const START_TIMEOUT_MS = 60_000;

/** Formats a KRaft storage dir with a random cluster id and starts the broker; resolves when it serves. */
export async function startKafkaBroker(opts: BrokerOptions = {}): Promise<KafkaBroker> {
  const why = kafkaMissing();
  if (why) throw new Error(`cannot start Kafka: ${why}`);
  const dir = mkdtempSync(join(tmpdir(), "lpsigner-kafka-"));
  const [port, controllerPort, saslPort] = [await freePort(), await freePort(), await freePort()];
  const listeners = [`PLAINTEXT://127.0.0.1:${port}`, `CONTROLLER://127.0.0.1:${controllerPort}`];
  const advertised = [`PLAINTEXT://127.0.0.1:${port}`];
  const protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"];
  const lines = [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    `log.dirs=${join(dir, "data")}`,
    `num.partitions=${opts.partitions ?? 4}`,
    "offsets.topic.replication.factor=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "group.initial.rebalance.delay.ms=0",
    // A small broker: a test writes a few MB.
    "num.network.threads=2",
    "num.io.threads=2",
    "log.segment.bytes=16777216",
  ];
  let caPem: string | undefined;
  const scramArgs: string[] = [];
  if (opts.sasl) {
    const { username, password } = opts.sasl;
    const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], {
      keySize: 2048,
      extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
    } as never);
    caPem = pems.cert;
    // Kafka reads a PEM key store in its own config (one line each, newlines escaped).
    const oneLine = (pem: string) => pem.trim().replace(/\r?\n/g, "\\n");
    listeners.push(`SASL_SSL://127.0.0.1:${saslPort}`);
    advertised.push(`SASL_SSL://127.0.0.1:${saslPort}`);
    protocols.push("SASL_SSL:SASL_SSL");
    const jaas = (module: string, extra: string) => `${module} required ${extra};`;
    lines.push(
      "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
      "listener.name.sasl_ssl.ssl.keystore.type=PEM",
      `listener.name.sasl_ssl.ssl.keystore.certificate.chain=${oneLine(pems.cert)}`,
      `listener.name.sasl_ssl.ssl.keystore.key=${oneLine(pems.private)}`,
      `listener.name.sasl_ssl.plain.sasl.jaas.config=${jaas("org.apache.kafka.common.security.plain.PlainLoginModule", `user_${username}="${password}"`)}`,
      `listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=${jaas("org.apache.kafka.common.security.scram.ScramLoginModule", "")}`,
      `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${jaas("org.apache.kafka.common.security.scram.ScramLoginModule", "")}`,
    );
    // SCRAM credentials live in the cluster metadata: written at format time.
    for (const mech of ["SCRAM-SHA-256", "SCRAM-SHA-512"]) scramArgs.push("--add-scram", `${mech}=[name=${username},password=${password}]`);
  }
  lines.push(`listeners=${listeners.join(",")}`, `advertised.listeners=${advertised.join(",")}`, `listener.security.protocol.map=${protocols.join(",")}`);
  const config = join(dir, "server.properties");
  writeFileSync(config, lines.join("\n") + "\n", { mode: 0o600 });
  const log4j = join(dir, "log4j2.properties");
  writeFileSync(
    log4j,
    [
      "status = error",
      "appender.out.type = Console",
      "appender.out.name = OUT",
      "appender.out.layout.type = PatternLayout",
      "appender.out.layout.pattern = [%d] %p %m (%c)%n",
      "rootLogger.level = warn",
      "rootLogger.appenderRef.out.ref = OUT",
      "logger.kafka.name = kafka.server.KafkaRaftServer",
      "logger.kafka.level = info",
    ].join("\n") + "\n",
  );
  const logPath = join(dir, "broker.log");
  const java = (args: string[]) => ["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", `-Dlog4j2.configurationFile=${log4j}`, "-cp", `${kafkaLibsDir()}/*`, ...args];
  // A random cluster id: 16 bytes, base64url without padding, as kafka-storage random-uuid prints.
  // (Not starting with "-", which the tool would read as an option.)
  let clusterId = "-";
  while (clusterId.startsWith("-")) clusterId = randomBytes(16).toString("base64url");
  const format = spawnSync("java", java(["kafka.tools.StorageTool", "format", "-t", clusterId, "-c", config, ...scramArgs]), { encoding: "utf8", timeout: 60_000 });
  if (format.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`kafka-storage format failed (${format.status}): ${format.stdout}${format.stderr}`);
  }

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const fd = openSync(logPath, "a");
    // The JVM under a shell that stops it when our end of its stdin closes: at halt(), and also when
    // the test process dies without its afterAll, so no broker outlives the run. Its own process
    // group, for the SIGKILL of last resort.
    // (fd 3: a background job's own stdin is /dev/null.)
    const script = 'exec 3<&0; java "$@" </dev/null & j=$!; (cat <&3 >/dev/null; kill $j 2>/dev/null) & wait $j';
    child = spawn("sh", ["-c", script, "sh", ...java(["kafka.Kafka", config])], { stdio: ["pipe", fd, fd], detached: true });
    closeSync(fd);
    const c = child;
    exited = new Promise((resolve) => c.once("exit", () => resolve()));
    let dead = false;
    void exited.then(() => (dead = true));
    const deadline = Date.now() + START_TIMEOUT_MS;
    // Serving = the client port accepts and the broker answers metadata (a consumer's first step).
    while (!(await canConnect(port)) || !(await answersMetadata(`127.0.0.1:${port}`))) {
      if (dead) throw new Error(`Kafka exited at start:\n${readLog()}`);
      if (Date.now() > deadline) throw new Error(`Kafka did not serve within ${START_TIMEOUT_MS} ms:\n${readLog()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const readLog = () => (existsSync(logPath) ? readFileSync(logPath, "utf8").slice(-4000) : "");
  const halt = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.stdin!.end();
    const group = child.pid!;
    const t = setTimeout(() => process.kill(-group, "SIGKILL"), 15_000);
    await exited;
    clearTimeout(t);
  };
  try {
    await start();
  } catch (err) {
    // Nothing left behind: no JVM, no data dir.
    if (child?.pid && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    bootstrap: `127.0.0.1:${port}`,
    saslBootstrap: opts.sasl ? `127.0.0.1:${saslPort}` : undefined,
    caPem,
    pause: halt,
    resume: start,
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    log: readLog,
  };
}

async function answersMetadata(bootstrap: string): Promise<boolean> {
  const { Admin } = await import("@platformatic/kafka");
  const admin = new Admin({ clientId: "lpsigner-test-probe", bootstrapBrokers: [bootstrap], retries: 0, connectTimeout: 2000, requestTimeout: 2000 });
  try {
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.close().catch(() => {});
  }
}

export interface TopicMessage {
  key: string;
  value: string;
  partition: number;
  offset: bigint;
}

/**
 * Reads a topic from its start (a fresh consumer group) until `count` messages have arrived, or
 * until `timeoutMs` has passed; then waits `settleMs` more for any extra (duplicates would show).
 */
export async function readTopic(bootstrap: string, topic: string, count: number, timeoutMs = 30_000, settleMs = 1000): Promise<TopicMessage[]> {
  const consumer = new Consumer({
    clientId: "lpsigner-test-consumer",
    groupId: `lpsigner-test-${randomBytes(6).toString("hex")}`,
    bootstrapBrokers: [bootstrap],
    autocommit: false,
  });
  const out: TopicMessage[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, maxWaitTime: 200 });
    const deadline = Date.now() + timeoutMs;
    let settleUntil = Infinity;
    const done = new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        if (out.length >= count && settleUntil === Infinity) settleUntil = Date.now() + settleMs;
        if (Date.now() > deadline || Date.now() > settleUntil) (clearInterval(tick), resolve());
      }, 50);
    });
    stream.on("data", (m) => out.push({ key: m.key.toString(), value: m.value.toString(), partition: m.partition, offset: m.offset }));
    await done;
    await stream.close();
  } finally {
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
  return out;
}
