/**
 * The key backends' end-to-end scenario: a running signer (whatever holds its key) pays two
 * gateway sessions on the dev chain, one through go-livepeer's legacy endpoint
 * (POST /generate-live-payment) and one through Connect (SignerService.GenerateLivePayment).
 * Every ticket is checked as the dev orchestrator checks it (createPaymentVerifier), every call's
 * fee and credit against an independent model of the session's accounting, and one winning
 * ticket is redeemed on the dev chain's TicketBroker.
 *
 * No vitest here: the AWS KMS test runs it inside a network namespace under tsx
 * (test/keys/support/kms-driver.ts). Mismatches throw with a message saying what differed.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Contract, Wallet, concat, hexlify, toBeHex, zeroPadValue } from "ethers";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { JobType, SignerService, type GenerateLivePaymentResponse, type SignerState } from "../../../gen/livepeer/signer/v1/signer_pb.js";
import { AuthTokenSchema, OrchestratorInfoSchema, PriceInfoSchema, TicketParamsSchema, type OrchestratorInfo, type Payment } from "../../../gen/net/lp_rpc_pb.js";
import { bigintToBytes, bytesToBigint, fromHex, keccak256 } from "../../../src/crypto/bytes.js";
import type { DevChain } from "../../../src/dev-chain/dev-chain.js";
import { createPaymentVerifier, decodePaymentHeader, uint256Bytes } from "../../../src/dev-orchestrator/payment-verifier.js";
import { Rat } from "../../../src/math/rat.js";
import { MAX_WIN_PROB } from "../../../src/pm/ticket.js";
import { fileURLToPath } from "node:url";
import { gatewayPaymentBody, paymentRequest, rawRequest } from "../../support/net-server.js";

/**
 * Every ticket wins but for a 1 in 2^256 chance: winProb = MAX_WIN_PROB - 1 (the signer refuses
 * MAX_WIN_PROB itself, as go-livepeer does, since its EV would equal the face value).
 */
export const FACE_VALUE = 1_000_000_000_000n;
const WIN_PROB = MAX_WIN_PROB - 1n;
const EV = new Rat(FACE_VALUE * WIN_PROB, MAX_WIN_PROB);
/**
 * A third of a ticket per `fixed` call: two calls with one ticket each leave credit enough for
 * the third, which needs none (legacy 482, Connect payment_required false), so the model checks
 * fractional credit and the no-ticket answer too.
 */
const PRICE = { pricePerUnit: FACE_VALUE, pixelsPerUnit: 3n };
const FEE = new Rat(PRICE.pricePerUnit, PRICE.pixelsPerUnit);
/** The legacy endpoint's body for an unavailable key: nothing else, no reason. */
export const LEGACY_UNAVAILABLE_BODY = '{"error":{"message":"Service Unavailable Error"}}\n';

export interface E2eTarget {
  /** The running signer, http://host:port */
  url: string;
  /** Its address, 0x… */
  address: string;
  chain: DevChain;
}

/** One call's outcome as the scenario saw it. */
export interface CallRecord {
  via: "legacy" | "connect";
  tickets: number;
  nonces: number[];
  fee: string;
  balance: string;
}

export interface SessionSummary {
  calls: number;
  tickets: number;
  /** Every sender nonce the orchestrator accepted, in order. */
  nonces: number[];
  /** Sum of the fees charged, and the credit left, exact (Go big.Rat text). */
  fees: string;
  balance: string;
  /** EV the orchestrator received: always fees + balance. */
  received: string;
  wins: number;
}

export interface E2eSummary {
  legacy: SessionSummary;
  connect: SessionSummary;
  redeemed: { sender: string; recipient: string; nonce: number; faceValue: string; recipientBalanceBefore: string; recipientBalanceAfter: string } | undefined;
}

interface PaidTicket {
  payment: Payment;
  index: number;
  recipientRand: bigint;
}

function mismatch(what: string, got: unknown, want: unknown): never {
  throw new Error(`e2e: ${what}: got ${String(got)}, want ${String(want)}`);
}

/** Tickets a session needs for one call, from its credit: an independent restatement of the reference's rule. */
function ticketsFor(credit: Rat, fee: Rat): number {
  const minCredit = fee.cmp(EV) >= 0 ? fee : EV;
  let n = 0;
  while (credit.add(EV.mul(new Rat(BigInt(n)))).cmp(minCredit) < 0) n++;
  return n;
}

/** One gateway session with one orchestrator (its own recipientRand), through one transport. */
class GatewaySession {
  readonly records: CallRecord[] = [];
  readonly paid: PaidTicket[] = [];
  private credit = Rat.ZERO;
  private fees = Rat.ZERO;
  private lastNonce = 0;
  private legacyState: { State: string; Sig: string } | undefined;
  private connectState: SignerState | undefined;
  private verifier: ReturnType<typeof createPaymentVerifier>;
  private readonly manifestId = `e2e-${randomBytes(4).toString("hex")}`;
  private readonly client;

  constructor(
    readonly via: "legacy" | "connect",
    private readonly target: E2eTarget,
    readonly info: OrchestratorInfo,
    readonly recipientRand: bigint,
    lastBlock: () => bigint,
  ) {
    this.verifier = createPaymentVerifier({
      orch: { recipient: info.ticketParams!.recipient, recipientRand },
      sender: fromHex(target.address),
      expectedPrice: PRICE,
      lastSeenL1Block: lastBlock,
    });
    this.client = createClient(SignerService, createConnectTransport({ baseUrl: target.url, httpVersion: "1.1" }));
  }

  /** n calls, each checked; returns their records. */
  async calls(n: number): Promise<CallRecord[]> {
    const out: CallRecord[] = [];
    for (let i = 0; i < n; i++) out.push(await (this.via === "legacy" ? this.legacyCall() : this.connectCall()));
    return out;
  }

  /** The checks every paid or covered call gets; `payment` undefined when no ticket was due. */
  private account(tickets: number, header: { payment: string; segment: string } | undefined, fee: string, balance: string, stateBytes: Uint8Array): CallRecord {
    const n = this.records.length + 1;
    const want = ticketsFor(this.credit, FEE);
    if (tickets !== want) mismatch(`${this.via} call ${n}: tickets`, tickets, want);
    const nextCredit = this.credit.add(EV.mul(new Rat(BigInt(want)))).sub(FEE);
    if (fee !== FEE.toString()) mismatch(`${this.via} call ${n}: fee`, fee, FEE.toString());
    if (balance !== nextCredit.toString()) mismatch(`${this.via} call ${n}: balance`, balance, nextCredit.toString());
    const nonces: number[] = [];
    if (header) {
      const winsBefore = this.verifier.wins();
      // As the orchestrator checks it: recipient, recipientRand, price, expiry, ticket and segment signatures, nonce replay.
      const payment = this.verifier.accept(header.payment, header.segment, this.manifestId);
      if (this.verifier.wins() - winsBefore !== tickets) mismatch(`${this.via} call ${n}: winning tickets`, this.verifier.wins() - winsBefore, tickets);
      payment.ticketSenderParams.forEach((tsp, index) => {
        nonces.push(tsp.senderNonce);
        this.paid.push({ payment, index, recipientRand: this.recipientRand });
      });
    }
    const wantNonces = Array.from({ length: want }, (_, i) => this.lastNonce + i + 1);
    if (nonces.join() !== wantNonces.join()) mismatch(`${this.via} call ${n}: sender nonces`, nonces.join() || "none", wantNonces.join() || "none");
    // The signed state carries the same credit and the last nonce used.
    const state = JSON.parse(Buffer.from(stateBytes).toString("utf8")) as { Balance: string; SenderNonce: number };
    if (state.Balance !== nextCredit.toString()) mismatch(`${this.via} call ${n}: the state's Balance`, state.Balance, nextCredit.toString());
    this.lastNonce += want;
    if (state.SenderNonce !== this.lastNonce) mismatch(`${this.via} call ${n}: the state's SenderNonce`, state.SenderNonce, this.lastNonce);
    this.credit = nextCredit;
    this.fees = this.fees.add(FEE);
    // Conservation: what the orchestrator received is exactly what was charged plus the credit left.
    const received = this.verifier.received();
    if (received.cmp(this.fees.add(this.credit)) !== 0) mismatch(`${this.via} call ${n}: EV received`, received, this.fees.add(this.credit));
    const record = { via: this.via, tickets, nonces, fee, balance };
    this.records.push(record);
    return record;
  }

  private async legacyCall(): Promise<CallRecord> {
    const res = await this.postLegacy();
    const n = this.records.length + 1;
    const body = JSON.parse(res.body) as { payment?: string; segCreds?: string; state?: { State: string; Sig: string }; error?: { message: string } };
    if (res.status === 482) {
      // Covered by the credit: the reference's "no tickets", with the advanced state.
      if (body.error?.message !== "no tickets" || !body.state) mismatch(`legacy call ${n}: 482 body`, res.body, "no tickets with a state");
      const stateBytes = Buffer.from(body.state.State, "base64");
      const balance = (JSON.parse(stateBytes.toString("utf8")) as { Balance: string }).Balance;
      const record = this.account(0, undefined, FEE.toString(), balance, stateBytes);
      this.legacyState = body.state;
      return record;
    }
    if (res.status !== 200 || !body.payment || !body.segCreds || !body.state) mismatch(`legacy call ${n}: status`, `${res.status} ${res.body}`, 200);
    const stateBytes = Buffer.from(body.state.State, "base64");
    const tickets = decodePaymentHeader(body.payment).ticketSenderParams.length;
    const balance = (JSON.parse(stateBytes.toString("utf8")) as { Balance: string }).Balance;
    const record = this.account(tickets, { payment: body.payment, segment: body.segCreds }, FEE.toString(), balance, stateBytes);
    this.legacyState = body.state;
    return record;
  }

  private postLegacy() {
    return rawRequest(`${this.target.url}/generate-live-payment`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: gatewayPaymentBody(this.info, { manifestId: this.manifestId, extra: { type: "fixed" }, ...(this.legacyState ? { state: this.legacyState } : {}) }),
    });
  }

  private request() {
    return paymentRequest(this.info, { manifestId: this.manifestId, type: JobType.FIXED, ...(this.connectState ? { state: this.connectState } : {}) });
  }

  private async connectCall(): Promise<CallRecord> {
    const res: GenerateLivePaymentResponse = await this.client.generateLivePayment(this.request());
    const n = this.records.length + 1;
    if (!res.state) mismatch(`connect call ${n}: state`, "none", "a state");
    if (res.billableUnits !== 1n) mismatch(`connect call ${n}: billable units`, res.billableUnits, 1);
    const header = res.paymentRequired ? { payment: res.paymentHeader, segment: res.segmentHeader } : undefined;
    if (res.paymentRequired !== res.numTickets > 0) mismatch(`connect call ${n}: payment_required`, res.paymentRequired, res.numTickets > 0);
    const record = this.account(res.numTickets, header, res.fee, res.balance, res.state.state);
    this.connectState = res.state;
    return record;
  }

  /**
   * The key is unreachable: this session's next call must fail as unavailable with nothing
   * returned (legacy 503 with the fixed body, Connect UNAVAILABLE); the session's state stays.
   * Returns what the gateway saw, for the secret grep.
   */
  async expectUnavailable(): Promise<string> {
    if (this.via === "legacy") {
      const res = await this.postLegacy();
      if (res.status !== 503 || res.body !== LEGACY_UNAVAILABLE_BODY) mismatch("legacy call during the outage", `${res.status} ${res.body}`, `503 ${LEGACY_UNAVAILABLE_BODY}`);
      return res.body;
    }
    const err = await this.client.generateLivePayment(this.request()).then(
      (res) => mismatch("connect call during the outage", `a response with ${res.numTickets} tickets`, "UNAVAILABLE"),
      (e: unknown) => ConnectError.from(e),
    );
    if (err.code !== Code.Unavailable) mismatch("connect call during the outage: code", Code[err.code], "Unavailable");
    return err.rawMessage;
  }

  summary(): SessionSummary {
    return {
      calls: this.records.length,
      tickets: this.records.reduce((a, r) => a + r.tickets, 0),
      nonces: this.records.flatMap((r) => r.nonces),
      fees: this.fees.toString(),
      balance: this.credit.toString(),
      received: this.verifier.received().toString(),
      wins: this.verifier.wins(),
    };
  }
}

export interface E2eScenario {
  legacy: GatewaySession;
  connect: GatewaySession;
  /** n calls on each session (legacy first). */
  calls(n: number): Promise<void>;
  /** Both sessions' next calls fail as unavailable with nothing returned; returns the error bodies and messages. */
  expectUnavailable(): Promise<string[]>;
  /** Redeems the first ticket not yet redeemed on TicketBroker; the recipient's ETH balance goes up by its face value; a replay is refused. */
  redeemOne(): Promise<NonNullable<E2eSummary["redeemed"]>>;
  summary(): E2eSummary;
}

/** Registers a fresh orchestrator (a recipient whose key this scenario holds) and opens both sessions. */
export async function openE2eScenario(target: E2eTarget): Promise<E2eScenario> {
  const { chain } = target;
  const recipient = Wallet.createRandom(); // test-only
  // TicketBroker pays active transcoders only.
  await chain.registerOrchestrator({ address: recipient.address, serviceUri: "https://e2e-orch.test:8935" });
  let block = BigInt(await chain.provider.getBlockNumber());
  const lastBlock = () => block;
  const refreshBlock = async () => void (block = BigInt(await chain.provider.getBlockNumber()));

  const session = (via: "legacy" | "connect") => {
    const recipientRand = bytesToBigint(randomBytes(32));
    const info = create(OrchestratorInfoSchema, {
      transcoder: "https://e2e-orch.test:8935",
      address: fromHex(recipient.address),
      priceInfo: create(PriceInfoSchema, PRICE),
      // No expiration params: the signer binds tickets to its own view of the last round.
      ticketParams: create(TicketParamsSchema, {
        recipient: fromHex(recipient.address),
        faceValue: bigintToBytes(FACE_VALUE),
        winProb: bigintToBytes(WIN_PROB),
        recipientRandHash: keccak256(uint256Bytes(recipientRand)),
        seed: bigintToBytes(bytesToBigint(randomBytes(8))),
        expirationBlock: bigintToBytes(block + 10_000n),
      }),
      authToken: create(AuthTokenSchema, { token: randomBytes(16), sessionId: via, expiration: BigInt(Math.floor(Date.now() / 1000) + 1800) }),
    });
    return new GatewaySession(via, target, info, recipientRand, lastBlock);
  };
  const legacy = session("legacy");
  const connect = session("connect");
  let redeemed: E2eSummary["redeemed"];
  let nextToRedeem = 0;

  return {
    legacy,
    connect,
    async calls(n) {
      await refreshBlock();
      await legacy.calls(n);
      await connect.calls(n);
    },
    async expectUnavailable() {
      return [await legacy.expectUnavailable(), await connect.expectUnavailable()];
    },
    async redeemOne() {
      const all = [...legacy.paid, ...connect.paid];
      const t = all[nextToRedeem++] ?? mismatch("tickets to redeem", "none left", "one");
      const tp = t.payment.ticketParams!;
      const tsp = t.payment.ticketSenderParams[t.index]!;
      const exp = t.payment.expirationParams ?? mismatch("the payment's expiration params", "none", "the signer's round");
      const ticket = {
        recipient: recipient.address,
        sender: target.address,
        faceValue: bytesToBigint(tp.faceValue),
        winProb: bytesToBigint(tp.winProb),
        senderNonce: BigInt(tsp.senderNonce),
        recipientRandHash: hexlify(tp.recipientRandHash),
        auxData: concat([zeroPadValue(toBeHex(exp.creationRound), 32), exp.creationRoundBlockHash]),
      };
      const redeemer = new Wallet(chain.accounts[2]!.privateKey, chain.provider);
      const broker = new Contract(chain.contracts.TicketBroker, chain.abis.TicketBroker, redeemer);
      const before = await chain.provider.getBalance(recipient.address);
      const tx = await broker.getFunction("redeemWinningTicket")(ticket, hexlify(tsp.sig), t.recipientRand);
      const receipt = await tx.wait();
      if (receipt?.status !== 1) mismatch("redeemWinningTicket's receipt status", receipt?.status, 1);
      const after = await chain.provider.getBalance(recipient.address);
      if (after !== before + ticket.faceValue) mismatch("the recipient's ETH balance after redemption", after, before + ticket.faceValue);
      const replay = await broker.getFunction("redeemWinningTicket").staticCall(ticket, hexlify(tsp.sig), t.recipientRand).then(
        () => "accepted",
        (e: { reason?: string }) => e.reason ?? String(e),
      );
      if (replay !== "ticket is used") mismatch("a replayed redemption", replay, "ticket is used");
      redeemed = {
        sender: target.address,
        recipient: recipient.address,
        nonce: tsp.senderNonce,
        faceValue: ticket.faceValue.toString(),
        recipientBalanceBefore: before.toString(),
        recipientBalanceAfter: after.toString(),
      };
      return redeemed;
    },
    summary: () => ({ legacy: legacy.summary(), connect: connect.summary(), redeemed }),
  };
}

/** The whole scenario once: `callsEach` (>= 3) calls per session, then one winning ticket redeemed. */
export async function runE2eSession(target: E2eTarget, callsEach = 4): Promise<E2eSummary> {
  const scenario = await openE2eScenario(target);
  await scenario.calls(callsEach);
  await scenario.redeemOne();
  return scenario.summary();
}

/** GET /readyz until its status is `want` (200 or 503), polling every 100 ms; the ms it took, or throws after `withinMs`. */
export async function waitReadyz(url: string, want: 200 | 503, withinMs: number): Promise<{ ms: number; body: string }> {
  const t0 = performance.now();
  for (;;) {
    const res = await rawRequest(`${url}/readyz`);
    if (res.status === want) return { ms: Math.round(performance.now() - t0), body: res.body };
    if (performance.now() - t0 > withinMs) mismatch(`/readyz within ${withinMs} ms`, `${res.status} ${res.body.trim()}`, want);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A pino logger at debug level writing to a string, for the secret grep. */
export function capturedLogger(): { logger: Logger; text(): string } {
  let text = "";
  const sink = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { logger: pino({ level: "debug" }, sink), text: () => text };
}

/** Throws naming where a secret appears in any of `texts` (a log, an error body, /metrics). */
export function assertNoSecret(texts: Record<string, string>, secrets: Record<string, string>): void {
  for (const [name, secret] of Object.entries(secrets)) {
    if (secret.length < 4) throw new Error(`e2e: the secret ${name} is too short to grep for`);
    for (const [where, text] of Object.entries(texts)) {
      if (text.includes(secret)) throw new Error(`e2e: ${name} appears in ${where}`);
    }
  }
}

export interface OutageRun {
  summary: E2eSummary;
  /** The legacy 503 body and the Connect UNAVAILABLE message seen during the outage. */
  outageBodies: string[];
  notReady: { ms: number; body: string };
  readyAgain: { ms: number; body: string };
  metrics: string;
  /** ms per phase */
  timings: Record<string, number>;
}

/**
 * The outage scenario on a running signer: 3 calls on each session, the backend stopped
 * (both next calls unavailable with nothing returned, /readyz 503 within `readyWithinMs`), started
 * again (/readyz 200, same signer), 3 more calls on the same sessions, exact, one winning ticket
 * redeemed; returns /metrics's text too for the secret grep.
 */
export async function sessionThroughOutage(
  target: E2eTarget,
  backend: { stop(): unknown; start(): unknown },
  readyWithinMs = 5000,
): Promise<OutageRun> {
  const timings: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    timings[name] = Math.round(performance.now() - t);
    t = performance.now();
  };
  const scenario = await openE2eScenario(target);
  await scenario.calls(3);
  lap("firstCalls");
  await backend.stop();
  const outageBodies = await scenario.expectUnavailable();
  lap("unavailableCalls");
  const notReady = await waitReadyz(target.url, 503, readyWithinMs);
  lap("readyz503");
  await backend.start();
  const readyAgain = await waitReadyz(target.url, 200, readyWithinMs);
  lap("readyz200");
  await scenario.calls(3);
  await scenario.redeemOne();
  lap("resumedCallsAndRedeem");
  const metrics = (await rawRequest(`${target.url}/metrics`)).body;
  return { summary: scenario.summary(), outageBodies, notReady, readyAgain, metrics, timings };
}

/** Runs the real binary (node --import tsx src/main.ts args) to its exit, killed after `timeoutMs`. */
export function runSignerBinary(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  const main = fileURLToPath(new URL("../../../src/main.ts", import.meta.url));
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", main, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: Math.round(performance.now() - t0) });
    });
  });
}
