/**
 * A development orchestrator for the dev chain: registered and active there (so chain discovery
 * finds it), serving net.Orchestrator/GetOrchestrator over TLS gRPC with a throwaway self-signed
 * certificate, and POST /payment that verifies tickets and keeps each sender's balance, answering
 * as a go-livepeer orchestrator does (402 bad payment, 403 bad segment credentials, 400 refused
 * tickets, 200 with a net.PaymentResult). It does no work: fees accrue with wall time at its price,
 * as a live video stream's would, from the first payment of each (sender, manifest).
 *
 * Over 250 lines: one orchestrator's two faces (gRPC GetOrchestrator and POST /payment) share its
 * ticket params and balances; kept together so the development orchestrator reads as one unit.
 */
import { createHmac, randomBytes } from "node:crypto";
import http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Contract, Wallet } from "ethers";
import {
  Orchestrator,
  OrchestratorInfoSchema,
  PaymentResultSchema,
  type AuthToken,
  type OrchestratorInfo,
  type OrchestratorRequest,
  type TicketParams,
} from "../../gen/net/lp_rpc_pb.js";
import { bigintToBytes, bytesToBigint, concatBytes, fromHex, keccak256, toHex, utf8 } from "../crypto/bytes.js";
import { checksumAddress, verifySignature } from "../crypto/eth-sign.js";
import type { DevChain } from "../dev-chain/dev-chain.js";
import { Rat } from "../math/rat.js";
import { MAX_WIN_PROB } from "../pm/ticket.js";
import { CAPABILITY_LIVE_VIDEO_TO_VIDEO } from "../pricing/capabilities.js";
import { selfSignedCertificate } from "./self-signed-certificate.js";
import { createByocJobs, type ByocCapability } from "./byoc-jobs.js";
import { createTicketRecipient, decodePaymentHeader, PaymentRefusedError, uint256Bytes, verifySegmentHeader } from "./payment-verifier.js";

/**
 * Discovery on the dev chain when -remoteDiscovery is not given: the chain's registered
 * orchestrators (the dev orchestrator), with a timeout that holds on a loaded machine.
 */
export const DEV_DISCOVERY = { webhookUrl: "", orchAddr: "", intervalMs: 60_000, timeoutMs: 3_000, extraNodes: 0, blocklist: [] as string[] };

/** Billable units per second of live video-to-video: 1280x720 pixels at 30 fps. */
export const LV2V_UNITS_PER_SECOND = 1280n * 720n * 30n;
const AUTH_TOKEN_TTL_S = 30 * 60;
/** Ticket params stay valid for this many L1 blocks. */
const PARAMS_VALIDITY_BLOCKS = 100n;

export interface DevOrchestratorOptions {
  chain: Pick<DevChain, "provider" | "contracts" | "abis" | "registerOrchestrator">;
  /** Default 127.0.0.1; port 0 (default) picks a free one. */
  host?: string;
  port?: number;
  /** Price: pricePerUnit wei per pixelsPerUnit units (default 1 wei per 1 unit). */
  pricePerUnit?: bigint;
  pixelsPerUnit?: bigint;
  /** live-video-to-video models offered (default ["streamdiffusion"]). */
  models?: string[];
  /** Ticket face value, wei (default 1e12), and win probability (default 1/1000). */
  faceValue?: bigint;
  winProb?: bigint;
  /** Units billed per second of a session (default LV2V_UNITS_PER_SECOND). */
  unitsPerSecond?: bigint;
  /** Milliseconds since the epoch (default Date.now). */
  clock?: () => number;
  /** BYOC capabilities served at POST /process/request/ (default DEV_BYOC_CAPABILITIES; [] for none). */
  byocCapabilities?: ByocCapability[];
}

/**
 * The BYOC capability a development orchestrator offers: 5e7 wei per compute-second, so a
 * minute's preload (3e9 wei) takes four tickets (EV just under 1e9) where lv2v's base price buys
 * two, too few for the minute of credit a job needs.
 */
export const DEV_BYOC_CAPABILITIES: ByocCapability[] = [{ name: "dev-echo", pricePerUnit: 50_000_000n, pixelsPerUnit: 1n }];

export interface DevOrchestrator {
  /** https://host:port: the service URI registered on chain. */
  url: string;
  /** Its Ethereum address (the ticket recipient). */
  address: string;
  /** The throwaway certificate, PEM, and its SHA-256 fingerprint (for pinning). */
  certificate: { pem: string; sha256: string };
  /** Per (sender, manifest): credit left, i.e. EV received minus the fees accrued so far. */
  balances(): { sender: string; manifestId: string; balance: Rat }[];
  /** Payments accepted and refused, tickets received, GetOrchestrator calls answered and refused. */
  stats(): { accepted: number; refused: number; tickets: number; winningTickets: number; infoCalls: number; infoRefused: number };
  /** BYOC jobs run and refused, and a sender's balance for a capability. */
  byoc: { stats(): { jobs: number; refused: number }; balance(sender: string, capability: string): Rat };
  close(): Promise<void>;
}

/** The orchestrator's check of a gateway's OrchestratorRequest: sig over keccak256(checksummed address). */
export function orchestratorRequestValid(req: OrchestratorRequest): boolean {
  if (req.address.length !== 20) return false;
  return verifySignature(req.address, keccak256(utf8.encode(checksumAddress(req.address))), req.sig);
}

/**
 * `count` development orchestrators, each at a higher price (n + 1 wei per unit) and every other
 * one offering a second model, so discovery and price ceilings have something to choose from.
 */
export async function startDevOrchestrators(opts: { chain: DevOrchestratorOptions["chain"]; count: number }): Promise<DevOrchestrator[]> {
  const started: DevOrchestrator[] = [];
  try {
    for (let n = 0; n < opts.count; n++) {
      const models = n % 2 === 0 ? ["streamdiffusion"] : ["streamdiffusion", "comfystream"];
      started.push(await startDevOrchestrator({ chain: opts.chain, pricePerUnit: BigInt(n + 1), models }));
    }
    return started;
  } catch (err) {
    for (const o of started) await o.close();
    throw err;
  }
}

export async function startDevOrchestrator(opts: DevOrchestratorOptions): Promise<DevOrchestrator> {
  const host = opts.host ?? "127.0.0.1";
  const clock = opts.clock ?? Date.now;
  const price = { pricePerUnit: opts.pricePerUnit ?? 1n, pixelsPerUnit: opts.pixelsPerUnit ?? 1n };
  const faceValue = opts.faceValue ?? 1_000_000_000_000n;
  const winProb = opts.winProb ?? MAX_WIN_PROB / 1000n;
  const unitsPerSecond = opts.unitsPerSecond ?? LV2V_UNITS_PER_SECOND;
  const wallet = Wallet.createRandom(); // throwaway: the dev chain registers it by impersonation
  // All 20 bytes: a minimal big-endian form would drop a leading zero byte (1 address in 256).
  const recipient = fromHex(wallet.address);
  const secret = randomBytes(32);
  const rounds = new Contract(opts.chain.contracts.RoundsManager, opts.chain.abis.RoundsManager, opts.chain.provider);
  const lastSeenBlock = async () => BigInt(await opts.chain.provider.getBlockNumber());

  // recipientRand is derived from the params and the sender, so any change to them is detected.
  // The seed is a number on the wire (big-endian, minimal as the gateway re-encodes it): hashed as
  // 32 bytes, so a seed that starts with a zero byte (1 in 256) gives the same rand both ways.
  const recipientRand = (seed: Uint8Array, sender: Uint8Array, expirationBlock: Uint8Array) =>
    bytesToBigint(
      createHmac("sha256", secret)
        .update(concatBytes(uint256Bytes(bytesToBigint(seed)), sender, uint256Bytes(faceValue), uint256Bytes(winProb), expirationBlock))
        .digest(),
    );
  const tickets = createTicketRecipient({
    recipient,
    recipientRand: (tp: TicketParams, sender) =>
      bytesToBigint(tp.faceValue) === faceValue && bytesToBigint(tp.winProb) === winProb
        ? recipientRand(tp.seed, sender, uint256Bytes(bytesToBigint(tp.expirationBlock)))
        : undefined,
    priceAccepted: (p) => (p.pricePerUnit === price.pricePerUnit && p.pixelsPerUnit === price.pixelsPerUnit) || byoc.priceAccepted(p),
    lastSeenL1Block: () => cachedBlock,
  });
  let cachedBlock = await lastSeenBlock();
  const authTokens = new Map<string, AuthToken>(); // by session id
  const sessions = new Map<string, { sender: string; manifestId: string; credit: Rat; startedAt: number }>();
  const counts = { accepted: 0, refused: 0, tickets: 0, winningTickets: 0, infoCalls: 0, infoRefused: 0 };
  let url = "";
  const byoc = createByocJobs({
    capabilities: opts.byocCapabilities ?? DEV_BYOC_CAPABILITIES,
    clock,
    // Tickets in a job's Livepeer-Payment header: verified as /payment's are, credited by the job.
    async receivePayment(header) {
      const p = decodePaymentHeader(header);
      cachedBlock = await lastSeenBlock();
      const { ev, winningNonces } = tickets.receive(p);
      counts.tickets += p.ticketSenderParams.length;
      counts.winningTickets += winningNonces.length;
      return { sender: `0x${toHex(p.sender)}`, ev };
    },
  });

  const info = async (sender: Uint8Array, authToken?: AuthToken): Promise<OrchestratorInfo> => {
    cachedBlock = await lastSeenBlock();
    const round = (await rounds.getFunction("lastInitializedRound")()) as bigint;
    const roundHash = (await rounds.getFunction("blockHashForRound")(round)) as string;
    const seed = randomBytes(32);
    const expirationBlock = uint256Bytes(cachedBlock + PARAMS_VALIDITY_BLOCKS);
    const token = authToken ?? {
      token: randomBytes(32),
      sessionId: toHex(randomBytes(16)),
      expiration: BigInt(Math.floor(clock() / 1000) + AUTH_TOKEN_TTL_S),
    };
    if (!authToken) authTokens.set(token.sessionId, token as AuthToken);
    const models = Object.fromEntries((opts.models ?? ["streamdiffusion"]).map((m) => [m, { warm: true, capacity: 1 }]));
    return create(OrchestratorInfoSchema, {
      transcoder: url,
      address: recipient,
      priceInfo: price,
      ticketParams: {
        recipient,
        faceValue: bigintToBytes(faceValue),
        winProb: bigintToBytes(winProb),
        recipientRandHash: keccak256(uint256Bytes(recipientRand(seed, sender, expirationBlock))),
        seed,
        expirationBlock: bigintToBytes(cachedBlock + PARAMS_VALIDITY_BLOCKS),
        expirationParams: { creationRound: round, creationRoundBlockHash: fromHex(roundHash) },
      },
      authToken: token,
      capabilitiesPrices: byoc.prices(),
      capabilities: {
        bitstring: [1n << BigInt(CAPABILITY_LIVE_VIDEO_TO_VIDEO)],
        capacities: { [CAPABILITY_LIVE_VIDEO_TO_VIDEO]: 1 },
        constraints: { PerCapability: { [CAPABILITY_LIVE_VIDEO_TO_VIDEO]: { models } } },
      },
    });
  };

  const balanceOf = (s: { credit: Rat; startedAt: number }) => {
    const elapsedMs = BigInt(Math.max(0, Math.round(clock() - s.startedAt)));
    return s.credit.sub(new Rat(price.pricePerUnit * unitsPerSecond * elapsedMs, price.pixelsPerUnit * 1000n));
  };

  const payment = async (paymentHeader: string, segmentHeader: string): Promise<Uint8Array> => {
    const p = decodePaymentHeader(paymentHeader);
    const seg = verifySegmentHeader(segmentHeader, p.sender);
    const issued = authTokens.get(seg.authToken!.sessionId);
    if (!issued || Buffer.compare(issued.token, seg.authToken!.token) !== 0 || issued.expiration !== seg.authToken!.expiration) {
      throw new PaymentRefusedError(403, "invalid auth token");
    }
    if (issued.expiration < BigInt(Math.floor(clock() / 1000))) throw new PaymentRefusedError(403, "auth token expired");
    cachedBlock = await lastSeenBlock();
    const { ev, winningNonces } = tickets.receive(p);
    const sender = `0x${toHex(p.sender)}`;
    const manifestId = Buffer.from(seg.manifestId).toString("utf8");
    const key = `${sender}/${manifestId}`;
    const s = sessions.get(key) ?? { sender, manifestId, credit: Rat.ZERO, startedAt: clock() };
    s.credit = s.credit.add(ev);
    sessions.set(key, s);
    counts.tickets += p.ticketSenderParams.length;
    counts.winningTickets += winningNonces.length;
    // New ticket params with the session's auth token, as the reference answers.
    return toBinary(PaymentResultSchema, create(PaymentResultSchema, { info: await info(p.sender, issued) }));
  };

  const handler = connectNodeAdapter({
    grpc: true,
    connect: false,
    grpcWeb: false,
    routes: (router) =>
      router.service(Orchestrator, {
        async getOrchestrator(req) {
          if (!orchestratorRequestValid(req)) {
            counts.infoRefused++;
            throw new ConnectError("invalid signature", Code.PermissionDenied);
          }
          counts.infoCalls++;
          return info(req.address);
        },
      }),
    fallback(req, res) {
      if (byoc.handle(req, res)) return;
      if (req.method !== "POST" || (req.url ?? "").split("?")[0] !== "/payment") {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end("404 page not found\n");
        return;
      }
      req.resume();
      const header = (name: string) => String(req.headers[name] ?? "");
      payment(header("livepeer-payment"), header("livepeer-segment")).then(
        (body) => {
          counts.accepted++;
          res.writeHead(200, { "content-type": "application/octet-stream" });
          res.end(body);
        },
        (err: unknown) => {
          counts.refused++;
          const status = err instanceof PaymentRefusedError ? err.status : 500;
          res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
          res.end(`${status === 500 ? "Internal Server Error" : (err as Error).message}\n`);
        },
      );
    },
  });

  const tls = await selfSignedCertificate(host);
  const server = http2.createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true }, handler);
  server.setTimeout(30_000);
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  url = `https://${host.includes(":") ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`;
  try {
    await opts.chain.registerOrchestrator({ address: wallet.address, serviceUri: url });
  } catch (err) {
    server.close();
    throw err;
  }

  return {
    url,
    address: wallet.address,
    certificate: { pem: tls.cert, sha256: tls.sha256 },
    balances: () => [...sessions.values()].map((s) => ({ sender: s.sender, manifestId: s.manifestId, balance: balanceOf(s) })),
    stats: () => ({ ...counts }),
    byoc: { stats: byoc.stats, balance: byoc.balance },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
