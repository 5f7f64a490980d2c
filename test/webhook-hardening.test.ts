/**
 * Issue 11 item 8: the auth webhook follows no redirect (a 3xx is a webhook error: the target is
 * never contacted, the secret headers and the state never leave for it) and its reply is read as
 * it streams, abandoned past the cap instead of being read whole first.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { createAuthWebhook, MAX_REPLY_BYTES } from "../src/payment/auth-webhook.js";
import { PaymentError } from "../src/payment/errors.js";
import { T0, orchestratorInfo } from "./support/fixtures.js";
import { gatewayPaymentBody, rawRequest, startTestServer, type RunningTestServer } from "./support/net-server.js";

const SECRET = { Authorization: "Bearer webhook-secret" };

interface Loopback {
  url: string;
  server: Server;
  requests: { method: string; headers: IncomingMessage["headers"] }[];
  handle: (req: IncomingMessage, res: ServerResponse) => void;
}

async function loopback(): Promise<Loopback> {
  const lb: Loopback = {
    url: "",
    server: undefined as unknown as Server,
    requests: [],
    handle: (_req, res) => res.end('{"status":200}'),
  };
  lb.server = createServer((req, res) => {
    lb.requests.push({ method: req.method ?? "", headers: req.headers });
    req.resume();
    lb.handle(req, res);
  });
  await new Promise<void>((resolve) => lb.server.listen(0, "127.0.0.1", resolve));
  const addr = lb.server.address();
  lb.url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/auth`;
  return lb;
}

const close = (s: Server) =>
  new Promise<void>((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  });

let hook: Loopback;
let target: Loopback;
let srv: RunningTestServer;

beforeAll(async () => {
  hook = await loopback();
  target = await loopback();
  srv = await startTestServer({ overrides: { webhook: createAuthWebhook({ url: hook.url, headers: SECRET, timeoutMs: 2000 }) } });
});
afterAll(async () => {
  await srv?.close(1000);
  await close(hook.server);
  await close(target.server);
});
beforeEach(() => {
  srv.clock.set(T0);
  hook.requests.length = 0;
  target.requests.length = 0;
  hook.handle = (_req, res) => res.end('{"status":200}');
});

async function legacyPay() {
  const res = await rawRequest(`${srv.url}/generate-live-payment`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: gatewayPaymentBody(orchestratorInfo()),
  });
  return { status: res.status, body: res.body };
}

/** The webhook's own verdict, from the client alone. */
const authorize = (url = hook.url, maxResponseBytes?: number) =>
  createAuthWebhook({ url, headers: SECRET, timeoutMs: 2000, ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }) })
    .authorize({ headers: {}, stateJson: new TextEncoder().encode("{}") })
    .then(
      (d) => d,
      (err: unknown) => err as Error,
    );

describe("redirects are not followed", () => {
  test.each([301, 302, 303, 307, 308])("a %i is a webhook error; the redirect target receives nothing", async (code) => {
    hook.handle = (_req, res) => {
      res.writeHead(code, { Location: target.url, "Content-Type": "application/json" });
      res.end('{"status":200}'); // a body that would be a yes, were the status 200
    };
    const err = await authorize();
    expect(err).toBeInstanceOf(PaymentError);
    expect((err as PaymentError).kind).toBe("internal");
    expect((err as Error).message).toBe(`signer auth error status ${code}`);

    const res = await legacyPay();
    expect(res).toEqual({ status: 500, body: '{"error":{"message":"Internal Server Error"}}\n' });
    expect(hook.requests).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(target.requests).toHaveLength(0);
  });
});

describe("the reply is read with a cap", () => {
  test("an endless streamed reply is abandoned past the cap: a webhook error, the connection closed", async () => {
    let written = 0;
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    hook.handle = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.on("close", () => closed());
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      res.write('{"status":200,"reason":"');
      const pump = () => {
        while (!res.destroyed && written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
      };
      pump();
    };
    const started = performance.now();
    const res = await legacyPay();
    expect(res).toEqual({ status: 500, body: '{"error":{"message":"Internal Server Error"}}\n' });
    expect(performance.now() - started).toBeLessThan(2000);
    await connectionClosed;
    // What the socket buffers took before the client let go, not the 64 MiB on offer.
    expect(written).toBeLessThan(8 * 1024 * 1024);

    const err = await authorize();
    expect((err as Error).message).toBe(`failed to read signer auth response: reply larger than ${MAX_REPLY_BYTES} bytes`);
  });

  test("a declared Content-Length past the cap is refused before reading", async () => {
    hook.handle = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": String(MAX_REPLY_BYTES + 1) });
      res.write('{"status":200}'); // and then nothing: waiting for the rest would hang until the timeout
    };
    const started = performance.now();
    const err = await authorize();
    expect((err as Error).message).toBe(`failed to read signer auth response: reply larger than ${MAX_REPLY_BYTES} bytes`);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("a reply just under the cap is read", async () => {
    const reply = `{"status":200,"reason":"${"r".repeat(MAX_REPLY_BYTES - 40)}"}`;
    expect(reply.length).toBeLessThan(MAX_REPLY_BYTES);
    hook.handle = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      // In small pieces, so the cap is counted over a stream.
      for (let i = 0; i < reply.length; i += 1000) res.write(reply.slice(i, i + 1000));
      res.end();
    };
    const d = await authorize();
    expect(d).not.toBeInstanceOf(Error);
    expect((d as { status: number }).status).toBe(200);
    expect((await legacyPay()).status).toBe(200);
  });
});
