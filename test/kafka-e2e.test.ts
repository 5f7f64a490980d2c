/**
 * Usage events end to end: `src/main.ts` as an operator runs it (its own process, the dev chain
 * over -ethUrl, the outbox on disk, -kafkaBootstrapServers) delivering to a real Apache Kafka 4.x
 * broker (test/support/kafka-broker.ts), and a consumer reading the topic.
 *
 * - 1,000 paying calls over 20 sessions (10 legacy HTTP/JSON, 10 Connect) under -workers 2: one
 *   event per call on the topic (the 1,000 paying plus the nothing-due ones), computed_fee summing
 *   to the fees the calls returned to the wei, each session in sequence order in one partition.
 * - The broker stopped for 30 s under load: calls keep succeeding, the outbox grows; once it is
 *   back every event is delivered.
 * - The signer SIGKILLed under load and restarted: every event whose reply was sent is delivered
 *   (the restarted signer over SASL SCRAM and TLS, configured by its flags).
 */
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { spawnSigner, type SignerProcess } from "./support/signer-process.js";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobType, SignerService, type SignerState } from "../gen/livepeer/signer/v1/signer_pb.js";
import { PaymentSchema } from "../gen/net/lp_rpc_pb.js";
import { fromBinary } from "@bufbuild/protobuf";
import { createEthSigner } from "../src/crypto/eth-sign.js";
import { startDevChain, type DevChain } from "../src/dev-chain/dev-chain.js";
import { paymentEventId } from "../src/events/payment-event.js";
import { Rat } from "../src/math/rat.js";
import { MAX_WIN_PROB } from "../src/pm/ticket.js";
import { decodeState } from "../src/state/payment-state.js";
import { logKafkaSkip, readTopic, startKafkaBroker, type KafkaBroker, type TopicMessage } from "./support/kafka-broker.js";
import { orchestratorInfo } from "./support/fixtures.js";
import { gatewayPaymentBody, paymentRequest, rawRequest } from "./support/net-server.js";

const skip = logKafkaSkip("test/kafka-e2e.test.ts");

const key = randomBytes(32); // throwaway, funded on the throwaway chain
const signerAddress = createEthSigner(key).address;
const FACE_VALUE = 1_000_000_000_000n;
const WIN_PROB = MAX_WIN_PROB / 1000n;
const EV = new Rat(FACE_VALUE * WIN_PROB, MAX_WIN_PROB);
// A fixed call costs 0.4 of a ticket's EV: some calls pay a ticket, some are covered by the credit.
const info = orchestratorInfo({
  pricePerUnit: 400_000_000n,
  pixelsPerUnit: 1n,
  faceValue: FACE_VALUE,
  winProb: WIN_PROB,
  expirationBlock: 1n << 40n,
  authExpiration: BigInt(Math.floor(Date.now() / 1000)) + 3600n,
});

const SASL = { username: "lpsigner", password: "kafka-e2e-secret-2718" };

let chain: DevChain;
let broker: KafkaBroker;
const dir = mkdtempSync(join(tmpdir(), "lpsigner-kafka-e2e-"));

beforeAll(async () => {
  if (skip) return;
  [chain, broker] = await Promise.all([startDevChain({ port: 0 }), startKafkaBroker({ partitions: 4, sasl: SASL })]);
  await chain.fundSender({ address: createEthSigner(key).addressHex });
}, 120_000);

afterAll(async () => {
  await broker?.stop();
  await chain?.close();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

type Signer = SignerProcess;

function startSigner(opts: { topic: string; db: string; workers: number; extra?: string[]; env?: NodeJS.ProcessEnv; bootstrap?: string }): Promise<Signer> {
  const flags = ["-ethUrl", chain.url, "-ethController", chain.controllerAddress, "-httpAddr", "127.0.0.1:0"];
  flags.push("-workers", String(opts.workers), "-eventsDb", opts.db, "-kafkaBootstrapServers", opts.bootstrap ?? broker.bootstrap, "-kafkaGatewayTopic", opts.topic, ...(opts.extra ?? []));
  return spawnSigner(flags, { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: "0x" + key.toString("hex"), ...opts.env }, 90_000);
}

async function stopSigner(s: Signer | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill("SIGTERM");
  const t = setTimeout(() => s.child.kill("SIGKILL"), 15_000);
  await s.exited;
  clearTimeout(t);
}

/** What a call's reply said: the event the signer must have written for it, and the fee. */
interface Reply {
  id: string;
  stateId: string;
  sequence: bigint;
  paying: boolean;
  fee: Rat;
}

/** One gateway session with the orchestrator, through one transport, carrying its state from call to call. */
class Session {
  private legacyState: { State: string; Sig: string } | undefined;
  private connectState: SignerState | undefined;
  private credit = Rat.ZERO;
  readonly replies: Reply[] = [];
  private readonly manifestId = `kafka-${randomBytes(4).toString("hex")}`;
  private readonly client;

  constructor(
    readonly via: "legacy" | "connect",
    url: string,
  ) {
    this.client = createClient(SignerService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
    this.url = url;
  }
  url: string;

  paying(): number {
    return this.replies.filter((r) => r.paying).length;
  }

  /** One call; its reply recorded only once received (the SIGKILL case counts on that). */
  async call(): Promise<Reply> {
    let reply = this.via === "legacy" ? await this.legacy() : await this.connect();
    if (reply === "refresh") {
      // Past ~500 tickets the signer asks for fresh ticket params, as orchestrators cap nonces: a gateway starts over.
      this.legacyState = undefined;
      this.connectState = undefined;
      this.credit = Rat.ZERO;
      reply = this.via === "legacy" ? await this.legacy() : await this.connect();
      if (reply === "refresh") throw new Error("a new session was asked to refresh");
    }
    this.replies.push(reply);
    return reply;
  }

  private record(stateBytes: Uint8Array, tickets: number, fee: Rat | undefined): Reply {
    const state = decodeState(stateBytes);
    const balance = state.balance === "" ? Rat.ZERO : Rat.parse(state.balance)!;
    // The legacy reply has no fee: it is what the credit lost beyond the tickets' EV.
    const charged = fee ?? this.credit.add(EV.mul(new Rat(BigInt(tickets)))).sub(balance);
    this.credit = balance;
    return { id: paymentEventId(signerAddress, state.stateId, state.sequenceNumber), stateId: state.stateId, sequence: state.sequenceNumber, paying: tickets > 0, fee: charged };
  }

  private async legacy(): Promise<Reply | "refresh"> {
    const res = await rawRequest(`${this.url}/generate-live-payment`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: gatewayPaymentBody(info, { manifestId: this.manifestId, extra: { type: "fixed" }, ...(this.legacyState ? { state: this.legacyState } : {}) }),
    });
    if (res.status === 480) return "refresh";
    if (res.status !== 200 && res.status !== 482) throw new Error(`legacy call: ${res.status} ${res.body}`);
    const body = JSON.parse(res.body) as { payment?: string; state: { State: string; Sig: string } };
    const tickets = res.status === 200 ? fromBinary(PaymentSchema, Buffer.from(body.payment!, "base64")).ticketSenderParams.length : 0;
    this.legacyState = body.state;
    return this.record(Buffer.from(body.state.State, "base64"), tickets, undefined);
  }

  private async connect(): Promise<Reply | "refresh"> {
    const req = paymentRequest(info, { manifestId: this.manifestId, type: JobType.FIXED, ...(this.connectState ? { state: this.connectState } : {}) });
    const res = await this.client.generateLivePayment(req, { timeoutMs: 20_000 }).catch((err: unknown) => {
      if (err instanceof ConnectError && /refresh session/.test(err.rawMessage)) return "refresh" as const;
      throw err;
    });
    if (res === "refresh") return res;
    this.connectState = res.state!;
    return this.record(res.state!.state, res.numTickets, Rat.parse(res.fee)!);
  }
}

function sessions(url: string, n: number): Session[] {
  return Array.from({ length: n }, (_, i) => new Session(i % 2 === 0 ? "legacy" : "connect", url));
}

const eventsOf = (messages: TopicMessage[]) =>
  messages.map((m) => ({ ...m, event: JSON.parse(m.value) as { id: string; data: { session_id: string; sequence_number: number; computed_fee: string; num_tickets: number } } }));

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
}

/** Every expected id on the topic; returns the ids missing. */
function missing(replies: Reply[], messages: TopicMessage[]): string[] {
  const ids = new Set(messages.map((m) => m.key));
  return replies.filter((r) => !ids.has(r.id)).map((r) => `${r.stateId}/${r.sequence}`);
}

describe.skipIf(skip)("usage events from a running signer to a real Kafka broker", () => {
  test("1,000 paying calls over 20 sessions, both transports, -workers 2: one event each on the topic with its fee, each session in order in one partition", async () => {
    const topic = "events-thousand";
    const signer = await startSigner({ topic, db: join(dir, "thousand.db"), workers: 2 });
    try {
      const all = sessions(signer.url, 20);
      // Each session calls in sequence (its state from the previous reply) until 50 calls paid.
      await Promise.all(
        all.map(async (s) => {
          while (s.paying() < 50) await s.call();
        }),
      );
      const replies = all.flatMap((s) => s.replies);
      const paying = replies.filter((r) => r.paying).length;
      expect(paying).toBe(1000);
      const nothingDue = replies.length - paying;
      expect(nothingDue).toBeGreaterThan(0);

      const messages = await readTopic(broker.bootstrap, topic, replies.length, 60_000, 1000);
      const events = eventsOf(messages);
      // Exactly one event per call: no duplicates, none missing, nothing else.
      expect(missing(replies, messages)).toEqual([]);
      expect(new Set(messages.map((m) => m.key)).size).toBe(replies.length);
      expect(messages.length).toBe(replies.length);
      expect(events.filter((e) => e.event.data.num_tickets > 0).length).toBe(1000);
      for (const e of events) expect(e.event.id).toBe(e.key);

      const feesReturned = replies.reduce((sum, r) => sum.add(r.fee), Rat.ZERO);
      const feesOnTopic = events.reduce((sum, e) => sum + BigInt(e.event.data.computed_fee), 0n);
      expect(feesReturned.toString()).toBe(feesOnTopic.toString());
      expect(feesOnTopic).toBe(BigInt(replies.length) * 400_000_000n);

      // Per partition, by offset: each session's sequence numbers strictly increase, and a session keeps to one partition.
      const partitionOf = new Map<string, number>();
      const lastSeq = new Map<string, number>();
      for (const e of [...events].sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : 1))) {
        const { session_id, sequence_number } = e.event.data;
        expect(partitionOf.get(session_id) ?? e.partition).toBe(e.partition);
        partitionOf.set(session_id, e.partition);
        expect(sequence_number).toBeGreaterThan(lastSeq.get(session_id) ?? -1);
        lastSeq.set(session_id, sequence_number);
      }
      expect(partitionOf.size).toBe(20);
      expect(new Set(partitionOf.values()).size).toBeGreaterThan(1);
      // Delivered events leave the outbox; the primary's metrics say so.
      await expect.poll(() => metric(signer.url, "lpsigner_events_outbox_depth"), { timeout: 10_000 }).toBe(0);
      expect(await metric(signer.url, "lpsigner_events_delivered_total")).toBe(replies.length);
    } finally {
      await stopSigner(signer);
    }
  }, 150_000);

  test("the broker stopped for 30 s under load: calls keep succeeding and the outbox grows; back up, every event is delivered", async () => {
    const topic = "events-outage";
    const signer = await startSigner({ topic, db: join(dir, "outage.db"), workers: 1 });
    try {
      const all = sessions(signer.url, 8);
      let load = true;
      const running = Promise.all(
        all.map(async (s) => {
          while (load) {
            await s.call();
            await new Promise((r) => setTimeout(r, 40));
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 2000));
      await broker.pause();
      let depthDown = 0;
      let failedDown = 0;
      try {
        const before = all.reduce((n, s) => n + s.replies.length, 0);
        await new Promise((r) => setTimeout(r, 30_000));
        const during = all.reduce((n, s) => n + s.replies.length, 0) - before;
        // Calls went on at full speed without the broker.
        expect(during).toBeGreaterThan(200);
        depthDown = await metric(signer.url, "lpsigner_events_outbox_depth");
        failedDown = await metric(signer.url, "lpsigner_events_delivery_failed_total");
      } finally {
        await broker.resume();
      }
      expect(depthDown).toBeGreaterThan(200);
      expect(failedDown).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 2000));
      load = false;
      await running;
      await expect.poll(() => metric(signer.url, "lpsigner_events_outbox_depth"), { timeout: 30_000, interval: 500 }).toBe(0);
      const replies = all.flatMap((s) => s.replies);
      const messages = await readTopic(broker.bootstrap, topic, replies.length, 30_000);
      expect(missing(replies, messages)).toEqual([]);
      expect(new Set(messages.map((m) => m.key)).size).toBe(replies.length);
    } finally {
      await stopSigner(signer);
    }
  }, 120_000);

  test("the signer SIGKILLed under load and restarted on the same outbox (over SASL SCRAM and TLS from its flags): every event whose reply was sent is delivered; the password in no log or metric", async () => {
    const topic = "events-killed";
    const db = join(dir, "killed.db");
    // The broker paused first, so the kill finds events in the outbox that were answered but never delivered.
    const first = await startSigner({ topic, db, workers: 1 });
    const all = sessions(first.url, 6);
    let load = true;
    const running = all.map(async (s) => {
      while (load) await s.call().catch(() => (load = false));
    });
    await new Promise((r) => setTimeout(r, 1500));
    await broker.pause();
    try {
      await new Promise((r) => setTimeout(r, 3000));
      first.child.kill("SIGKILL");
      await first.exited;
      load = false;
      await Promise.all(running);
    } finally {
      await broker.resume();
    }
    const replies = all.flatMap((s) => s.replies);
    expect(replies.length).toBeGreaterThan(100);

    // Restarted as an operator with a secured broker would run it: SASL SCRAM over TLS from its
    // flags, the password from LP_KAFKAPASSWORD (never logged), the broker's CA from a file.
    const ca = join(dir, "kafka-ca.pem");
    writeFileSync(ca, broker.caPem!);
    const second = await startSigner({
      topic,
      db,
      workers: 1,
      bootstrap: broker.saslBootstrap!,
      extra: ["-kafkaUser", SASL.username, "-kafkaSaslMechanism", "SCRAM-SHA-512", "-kafkaTlsCa", ca, "-logLevel", "debug"],
      env: { LP_KAFKAPASSWORD: SASL.password },
    });
    try {
      await expect.poll(() => metric(second.url, "lpsigner_events_outbox_depth"), { timeout: 30_000, interval: 500 }).toBe(0);
      const messages = await readTopic(broker.bootstrap, topic, replies.length, 30_000);
      expect(missing(replies, messages)).toEqual([]);
      expect(await (await fetch(`${second.url}/metrics`)).text()).not.toContain(SASL.password);
      expect(second.output()).not.toContain(SASL.password);
    } finally {
      await stopSigner(second);
    }
  }, 120_000);
});
