/**
 * Gateway sessions as go-livepeer drives a remote signer: POST /generate-live-payment with the
 * orchestrator's info, job type `fixed` and, after the first call, the state the signer returned.
 * The price is set just under one ticket's EV, so every call pays exactly one ticket.
 *
 * Each session owns one keep-alive HTTP/1.1 connection and speaks to it directly over `net`: the
 * load client shares the machine with the signer, and node:http's client costs about as much per
 * call as a third of the signer's work, which would cap what two workers can show.
 *
 * A call that gets no answer is labelled with why (`ECONNRESET`, `socket hang up` when the
 * connection closed first, `timeout` after CALL_TIMEOUT_MS), a non-200 with its status, and with
 * a SignerIdentity (--verify) a 200 whose payment or state does not verify with its
 * VerifyFailure (bench/load/verify.ts).
 */
import { connect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { MAX_WIN_PROB } from "../../src/pm/ticket.js";
import { orchestratorInfo, orchestratorInfoBytes, testOrchestrator, type TestOrchestrator } from "../../test/support/fixtures.js";
import { SessionVerifier, type SentOrchestrator, type SignerIdentity } from "./verify.js";

const FACE_VALUE = 1_000_000_000_000n;
const WIN_PROB = MAX_WIN_PROB / 1000n;
/** floor(EV): the fee stays just under one ticket, so each call needs exactly one. */
const PRICE = (FACE_VALUE * WIN_PROB) / MAX_WIN_PROB;
/** A session is renewed before the signer asks for a refresh (sender nonce 500). */
export const CALLS_PER_SESSION = 400;
/** A connection idle this long is replaced before use: the signer closes idle ones after 65 s. */
const IDLE_REPLACE_MS = 60_000;
const HEADER_END = Buffer.from("\r\n\r\n");
/** Orchestrator infos a client's sessions share by default. */
export const DEFAULT_ORCHESTRATORS = 8;
/** A call unanswered this long fails as `timeout` and its connection is replaced. */
const CALL_TIMEOUT_MS = 10_000;

export interface CallResult {
  ok: boolean;
  /** HTTP status; 0: no answer */
  status: number;
  /** Why it failed: the status, a socket error's code, `socket hang up`, `timeout`, or a VerifyFailure's label. */
  label?: string;
  /** The failure's detail: the start of a non-200's body, or what did not verify. */
  detail?: string;
}

/** An orchestrator's info priced at one ticket per `fixed` call. */
export function benchOrchestratorInfo(orch: TestOrchestrator = testOrchestrator()) {
  return orchestratorInfo({
    orch,
    pricePerUnit: PRICE,
    pixelsPerUnit: 1n,
    faceValue: FACE_VALUE,
    winProb: WIN_PROB,
    expirationBlock: 1n << 40n,
    authExpiration: BigInt(Math.floor(Date.now() / 1000)) + 24n * 3600n,
  });
}

/** One orchestrator's info, shared by sessions (as a gateway's sessions with one orchestrator). */
function benchOrchestrator(): SentOrchestrator & { json: string } {
  const orch = testOrchestrator();
  const info = benchOrchestratorInfo(orch);
  return { orch, info, json: JSON.stringify(Buffer.from(orchestratorInfoBytes(info)).toString("base64")) };
}

interface Reply {
  status: number;
  text: string;
  /** No answer: why. */
  error?: string;
}

/** One keep-alive connection, one request at a time; a reply is framed by its Content-Length. */
class Connection {
  private socket: Socket | undefined;
  private lastUsed = 0;
  private received: Buffer[] = [];
  private pending: ((reply: Reply) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The socket's last error, reported when it closes before answering. */
  private socketError: string | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  post(path: string, body: string): Promise<Reply> {
    if (this.socket && performance.now() - this.lastUsed > IDLE_REPLACE_MS) this.drop();
    const socket = this.socket ?? this.open();
    return new Promise((resolve) => {
      this.pending = resolve;
      this.timer = setTimeout(() => {
        this.drop();
        this.finish({ status: 0, text: "", error: "timeout" });
      }, CALL_TIMEOUT_MS);
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  close(): void {
    this.drop();
  }

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (this.socket === socket) this.socketError = err.code ?? err.message;
    });
    socket.on("close", () => {
      // A socket dropped on purpose has already been replaced; its late close is not this call's.
      if (this.socket !== socket) return;
      this.socket = undefined;
      // Closed with no error while a call waited: the peer ended the connection (node's "socket hang up").
      this.finish({ status: 0, text: "", error: this.socketError ?? "socket hang up" });
    });
    this.socket = socket;
    this.socketError = undefined;
    this.received = [];
    return socket;
  }

  private drop(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
  }

  private onData(chunk: Buffer): void {
    this.received.push(chunk);
    const data = this.received.length === 1 ? chunk : Buffer.concat(this.received);
    const headerEnd = data.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = data.toString("latin1", 0, headerEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      // Every reply of the legacy endpoints has a Content-Length; anything else is a failure.
      this.drop();
      this.finish({ status: 0, text: "", error: "no content-length" });
      return;
    }
    const bodyEnd = headerEnd + 4 + Number(length[1]);
    if (data.length < bodyEnd) {
      this.received = [data];
      return;
    }
    this.received = data.length > bodyEnd ? [data.subarray(bodyEnd)] : [];
    this.lastUsed = performance.now();
    if (/\r\nconnection:\s*close/i.test(head)) this.drop();
    this.finish({ status: Number(head.slice(9, 12)), text: data.toString("utf8", headerEnd + 4, bodyEnd) });
  }

  private finish(reply: Reply): void {
    const resolve = this.pending;
    this.pending = undefined;
    clearTimeout(this.timer);
    resolve?.(reply);
  }
}

export class GatewayClient {
  private readonly host: string;
  private readonly port: number;
  private readonly orchestrators: ReturnType<typeof benchOrchestrator>[];
  private readonly connections = new Set<Connection>();

  /**
   * `verify`: check every reply, its signatures against this signer (--verify).
   * `orchestrators`: how many orchestrators' infos the sessions share (as a gateway's streams
   * with one orchestrator); 0: each session its own, as each stream's own GetOrchestrator gives.
   */
  constructor(
    url: string,
    private readonly verify?: SignerIdentity,
    orchestrators = DEFAULT_ORCHESTRATORS,
  ) {
    const u = new URL(url);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.orchestrators = Array.from({ length: orchestrators }, benchOrchestrator);
  }

  session(): Session {
    const connection = new Connection(this.host, this.port);
    this.connections.add(connection);
    const orchestrator = this.orchestrators.length ? this.orchestrators[Math.floor(Math.random() * this.orchestrators.length)]! : benchOrchestrator();
    return new Session(connection, orchestrator.json, this.verify && new SessionVerifier(orchestrator, this.verify));
  }

  close(): void {
    for (const c of this.connections) c.close();
    this.connections.clear();
  }
}

/** A session carries the signer's state from call to call; it is renewed before nonce 500. */
export class Session {
  private state: string | undefined;
  private calls = 0;
  private manifestId = "";

  constructor(
    private readonly connection: Connection,
    private readonly orchestrator: string,
    private readonly verifier?: SessionVerifier,
  ) {
    this.renew();
  }

  private renew(): void {
    this.state = undefined;
    this.calls = 0;
    this.manifestId = randomBytes(4).toString("hex");
    this.verifier?.renew();
  }

  async call(): Promise<CallResult> {
    if (this.calls >= CALLS_PER_SESSION) this.renew();
    const state = this.state === undefined ? "" : `,"state":${this.state}`;
    const body = `{"orchestrator":${this.orchestrator},"ManifestID":"${this.manifestId}","type":"fixed"${state}}`;
    const { status, text, error } = await this.connection.post("/generate-live-payment", body);
    if (status !== 200) {
      this.renew();
      return { ok: false, status, label: error ?? String(status), detail: text.slice(0, 200).trim() };
    }
    const failure = this.verifier?.check(text, this.manifestId);
    if (failure) {
      this.renew();
      return { ok: false, status, label: failure.label, detail: failure.reason };
    }
    this.calls++;
    // {"payment":…,"segCreds":…,"state":{"State":…,"Sig":…}}: keep the state as the signer sent it.
    const at = text.indexOf(`"state":`);
    const end = text.lastIndexOf("}");
    if (at < 0 || end < at) return { ok: false, status, label: "bad-reply" };
    this.state = text.slice(at + 8, end);
    return { ok: true, status };
  }
}
