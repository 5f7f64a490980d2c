/**
 * Gateway sessions as go-livepeer drives a remote signer: POST /generate-live-payment with the
 * orchestrator's info, job type `fixed` and, after the first call, the state the signer returned.
 * The price is set just under one ticket's EV, so every call pays exactly one ticket.
 */
import { Agent, request } from "node:http";
import { randomBytes } from "node:crypto";
import { MAX_WIN_PROB } from "../../src/pm/ticket.js";
import { orchestratorInfo, orchestratorInfoBytes } from "../../test/support/fixtures.js";

const FACE_VALUE = 1_000_000_000_000n;
const WIN_PROB = MAX_WIN_PROB / 1000n;
/** floor(EV): the fee stays just under one ticket, so each call needs exactly one. */
const PRICE = (FACE_VALUE * WIN_PROB) / MAX_WIN_PROB;
/** A session is renewed before the signer asks for a refresh (sender nonce 500). */
export const CALLS_PER_SESSION = 400;

export interface CallResult {
  ok: boolean;
  status: number;
}

/** An orchestrator's info priced at one ticket per `fixed` call. */
export function benchOrchestratorInfo() {
  return orchestratorInfo({
    pricePerUnit: PRICE,
    pixelsPerUnit: 1n,
    faceValue: FACE_VALUE,
    winProb: WIN_PROB,
    expirationBlock: 1n << 40n,
    authExpiration: BigInt(Math.floor(Date.now() / 1000)) + 24n * 3600n,
  });
}

/** One orchestrator's info, shared by sessions (as a gateway's sessions with one orchestrator). */
function orchestratorJson(): string {
  const info = benchOrchestratorInfo();
  return JSON.stringify(Buffer.from(orchestratorInfoBytes(info)).toString("base64"));
}

export class GatewayClient {
  readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;
  private readonly orchestrators = Array.from({ length: 8 }, orchestratorJson);

  constructor(url: string, maxSockets: number) {
    const u = new URL(url);
    this.host = u.hostname;
    this.port = Number(u.port);
    // An idle socket is dropped before the signer's 5 s keep-alive timeout closes it, so a call is
    // never sent on a connection the server is closing (a reset that no server could answer).
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: 4000 });
  }

  session(): Session {
    return new Session(this, this.orchestrators[Math.floor(Math.random() * this.orchestrators.length)]!);
  }

  post(body: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve) => {
      const req = request(
        {
          agent: this.agent,
          host: this.host,
          port: this.port,
          method: "POST",
          path: "/generate-live-payment",
          headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", () => resolve({ status: 0, text: "" }));
        },
      );
      req.on("error", () => resolve({ status: 0, text: "" }));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A session carries the signer's state from call to call; it is renewed before nonce 500. */
export class Session {
  private state: string | undefined;
  private calls = 0;
  private manifestId = "";

  constructor(
    private readonly client: GatewayClient,
    private readonly orchestrator: string,
  ) {
    this.renew();
  }

  private renew(): void {
    this.state = undefined;
    this.calls = 0;
    this.manifestId = randomBytes(4).toString("hex");
  }

  async call(): Promise<CallResult> {
    if (this.calls >= CALLS_PER_SESSION) this.renew();
    const state = this.state === undefined ? "" : `,"state":${this.state}`;
    const body = `{"orchestrator":${this.orchestrator},"ManifestID":"${this.manifestId}","type":"fixed"${state}}`;
    const { status, text } = await this.client.post(body);
    if (status !== 200) {
      this.renew();
      return { ok: false, status };
    }
    this.calls++;
    // {"payment":…,"segCreds":…,"state":{"State":…,"Sig":…}}: keep the state as the signer sent it.
    const at = text.indexOf(`"state":`);
    const end = text.lastIndexOf("}");
    if (at < 0 || end < at) return { ok: false, status };
    this.state = text.slice(at + 8, end);
    return { ok: true, status };
  }
}
