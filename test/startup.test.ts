/**
 * Starting against a real JSON-RPC endpoint: basic auth from -ethUrl's userinfo (a loopback proxy
 * in front of the dev chain that demands it), secrets never printed, startup warnings, and
 * startup failures as one line on stderr from the real entry point (npx tsx src/main.ts).
 */
import { spawn } from "node:child_process";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { Wallet } from "ethers";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadConfig, NO_WEBHOOK_WARNING, parseFlags } from "../src/config.js";
import { startDevChain, type DevChain } from "../src/dev-chain/dev-chain.js";
import { StartupError } from "../src/startup.js";
import { startSigner } from "../src/start-signer.js";

const USER = "alice";
const PASSWORD = "p@ss:w0rd-SECRET";
const PATH_SECRET = "SECRETKEY123";
const QUERY_SECRET = "SECRETQUERY456";

let chain: DevChain;
let proxy: Server;
let proxyPort: number;
/** Every request the proxy saw: its Authorization header and path. */
const seen: { authorization: string | undefined; path: string | undefined }[] = [];

beforeAll(async () => {
  chain = await startDevChain({ port: 0 });
  // A JSON-RPC endpoint that demands basic auth, as hosted RPC providers do.
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
  proxy = createHttpServer(async (req, res) => {
    seen.push({ authorization: req.headers.authorization, path: req.url });
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="rpc"' }).end("unauthorized");
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const upstream = await fetch(chain.url, { method: "POST", headers: { "content-type": "application/json" }, body: Buffer.concat(chunks) });
    res.writeHead(upstream.status, { "content-type": "application/json" }).end(await upstream.text());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  proxyPort = (proxy.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  await chain?.close();
});

/** A pino logger whose lines are kept for assertions. */
function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), text: () => lines.join("") };
}

const rpcUrl = (user: string, password: string) =>
  `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${proxyPort}/v2/${PATH_SECRET}?apikey=${QUERY_SECRET}`;

function rpcConfig(ethUrl: string, key: string) {
  const flags = parseFlags(["-ethUrl", ethUrl, "-ethController", chain.controllerAddress, "-httpAddr", "127.0.0.1:0"], {})!;
  return loadConfig(flags, { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: key });
}

describe("-ethUrl with user:password", () => {
  test("is sent as a basic Authorization header on every request, with the path and query; nothing secret is logged or reported", async () => {
    const wallet = Wallet.createRandom();
    await chain.fundSender({ address: wallet.address });
    const log = capture();
    seen.length = 0;
    const running = await startSigner(rpcConfig(rpcUrl(USER, PASSWORD), wallet.privateKey), log.logger);
    try {
      expect(running.address).toBe(wallet.address);
      expect(seen.length).toBeGreaterThan(3);
      for (const s of seen) {
        expect(s.authorization).toBe(`Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`);
        expect(s.path).toBe(`/v2/${PATH_SECRET}?apikey=${QUERY_SECRET}`);
      }
      const status = (await (await fetch(`${running.url}/livepeer.signer.v1.SignerService/GetSignerStatus`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      }).then((r) => r.json())) as { chain?: { ethUrl?: string; deposit?: string } });
      expect(status.chain?.ethUrl).toBe(`http://127.0.0.1:${proxyPort}/…`);
      expect(status.chain?.deposit).toBe((10n ** 19n).toString());
      const everything = log.text() + JSON.stringify(status);
      for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), PATH_SECRET, QUERY_SECRET, USER]) expect(everything).not.toContain(secret);
      expect(log.text()).toContain(NO_WEBHOOK_WARNING);
      expect(log.text()).not.toContain("cannot back tickets");
    } finally {
      await running.close();
    }
  });

  test("a wrong password: a StartupError naming the redacted URL and the HTTP status, quoting no secret", async () => {
    const err = await startSigner(rpcConfig(rpcUrl(USER, "wrong-SECRET-pw"), "0x" + "33".repeat(32)), pino({ level: "silent" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    const text = `${(err as Error).message}\n${(err as Error).stack}`;
    expect((err as Error).message).toContain(`cannot read the chain at http://127.0.0.1:${proxyPort}/…`);
    expect((err as Error).message).toContain("HTTP 401");
    for (const secret of ["wrong-SECRET-pw", PATH_SECRET, QUERY_SECRET, USER]) expect(text).not.toContain(secret);
  });
});

describe("an unfunded signer: a startup WARNING with the reason payments will fail", () => {
  test.each([
    ["nothing funded", undefined, "no sender reserve"],
    ["a reserve but no deposit", { deposit: 0n, reserve: 10n ** 18n }, "no sender deposit"],
    ["a deposit but no reserve", { deposit: 10n ** 18n, reserve: 0n }, "no sender reserve"],
  ])("%s", async (_name, funds, reason) => {
    const wallet = Wallet.createRandom();
    if (funds) await chain.fundSender({ address: wallet.address, ...funds });
    const log = capture();
    const running = await startSigner(rpcConfig(chain.url, wallet.privateKey), log.logger);
    try {
      expect(log.text()).toContain(`WARNING: ${running.address} cannot back tickets (${reason}): payments fail until`);
    } finally {
      await running.close();
    }
  });
});

test("a used port fails with a StartupError before the development chain is started", async () => {
  const blocker = createNetServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const port = (blocker.address() as AddressInfo).port;
  try {
    const log = capture();
    const started = performance.now();
    const err = await startSigner(loadConfig(parseFlags(["-httpAddr", `127.0.0.1:${port}`], {})!, {}), log.logger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toBe(`cannot listen on 127.0.0.1:${port} (-httpAddr): the address is already in use`);
    // No chain was read: the dev chain never started.
    expect(log.text()).not.toContain("chain view ready");
    expect(performance.now() - started).toBeLessThan(2000);
  } finally {
    blocker.close();
  }
});

/** Runs the real entry point; resolves with its exit code and output. */
function runMain(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["tsx", "src/main.ts", ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("npx tsx src/main.ts: startup failures are one line on stderr, no stack", () => {
  test("port in use: exit 1", async () => {
    const blocker = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const out = await runMain(["-httpAddr", `127.0.0.1:${port}`]);
      expect(out.stderr).toBe(`lpsigner: failed to start: cannot listen on 127.0.0.1:${port} (-httpAddr): the address is already in use\n`);
      expect(out.code).toBe(1);
    } finally {
      blocker.close();
    }
  });

  test("chain unreachable, URL full of secrets: exit 1, and no secret anywhere in the output", async () => {
    // A port nothing listens on (fetch refuses some low ports outright).
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const url = `http://bob:hunter2-SECRET@127.0.0.1:${port}/v3/${PATH_SECRET}?token=${QUERY_SECRET}`;
    const out = await runMain(["-ethUrl", url, "-ethController", "0x0000000000000000000000000000000000000001"], {
      LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: "0x" + "55".repeat(32),
    });
    expect(out.code).toBe(1);
    expect(out.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    expect(out.stderr).toMatch(new RegExp(`^lpsigner: failed to start: cannot read the chain at http://127\\.0\\.0\\.1:${port}/… .*ECONNREFUSED`));
    for (const secret of ["hunter2-SECRET", "bob", PATH_SECRET, QUERY_SECRET]) expect(out.stdout + out.stderr).not.toContain(secret);
  });

  test("a configuration mistake: exit 2", async () => {
    const out = await runMain(["-corsOrigins", "null"]);
    expect(out.stderr).toBe(`lpsigner: -corsOrigins: "null" is not allowed: it is the origin of every sandboxed page and local file\n`);
    expect(out.code).toBe(2);
  });
});
