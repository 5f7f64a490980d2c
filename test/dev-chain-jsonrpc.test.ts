/**
 * The development chain's JSON-RPC over HTTP, as `npm run dev-chain` serves it: requests that omit
 * `params` (JSON-RPC 2.0 allows it; go-ethereum's client omits it for calls without arguments),
 * batches, and malformed bodies; then go-ethereum's ethclient (test/interop-go/cmd/devchain-ethclient,
 * the client go-livepeer uses) reads the chain. The ethclient test is skipped only when `go` is missing.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const root = join(import.meta.dirname, "..");
const hasGo = spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
if (!hasGo) console.warn("SKIPPED: the dev chain's go-ethereum ethclient test needs `go` on PATH");

let chain: ChildProcess;
let url: string;
let controller: string;
let account: string;
let ticketBroker: string;

beforeAll(async () => {
  chain = spawn(process.execPath, ["--import", "tsx", "src/dev-chain/main.ts", "-port", "0"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  chain.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  chain.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  // The banner ends with a line of "=" after the test accounts.
  const banner = /url:\s+(\S+)[\s\S]*controller:\s+(\S+)[\s\S]*TicketBroker:\s+(\S+)[\s\S]*test accounts[^\n]*\n\s+(0x[0-9a-fA-F]{40})[\s\S]*\n={20,}\n/;
  for (let i = 0; i < 900 && !banner.test(out); i++) {
    if (chain.exitCode !== null) throw new Error(`dev chain exited: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = banner.exec(out);
  if (!m) throw new Error(`dev chain did not start: ${out}`);
  [, url, controller, ticketBroker, account] = m as unknown as [string, string, string, string, string];
});

afterAll(async () => {
  if (!chain || chain.exitCode !== null) return;
  const exited = new Promise((r) => chain.once("exit", r));
  chain.kill("SIGTERM");
  await exited;
});

/** POSTs a raw body; resolves with the HTTP status and the parsed reply. */
async function post(body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: res.status, json: await res.json() };
}

describe("dev chain JSON-RPC over HTTP", () => {
  test("a request without params, or with params null, is answered as with params []", async () => {
    for (const body of [
      { jsonrpc: "2.0", id: 1, method: "eth_chainId" },
      { jsonrpc: "2.0", id: 1, method: "eth_chainId", params: null },
      { jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] },
    ]) {
      expect(await post(JSON.stringify(body)), JSON.stringify(body)).toEqual({ status: 200, json: { jsonrpc: "2.0", id: 1, result: "0x539" } });
    }
    const block = await post(JSON.stringify({ jsonrpc: "2.0", id: "b", method: "eth_blockNumber" }));
    expect(block.json).toMatchObject({ id: "b", result: expect.stringMatching(/^0x[0-9a-f]+$/) });
  });

  test("a batch mixing params-less, params null and params [] requests answers each by id", async () => {
    const { status, json } = await post(
      JSON.stringify([
        { jsonrpc: "2.0", id: 1, method: "eth_chainId" },
        { jsonrpc: "2.0", id: 2, method: "net_version", params: null },
        { jsonrpc: "2.0", id: 3, method: "eth_getBalance", params: [account, "latest"] },
      ]),
    );
    expect(status).toBe(200);
    expect(json).toEqual([
      { jsonrpc: "2.0", id: 1, result: "0x539" },
      { jsonrpc: "2.0", id: 2, result: "1337" },
      { jsonrpc: "2.0", id: 3, result: expect.stringMatching(/^0x[0-9a-f]+$/) },
    ]);
    expect(BigInt((json as { result: string }[])[2]!.result)).toBeGreaterThan(0n);
  });

  test("malformed input gets a JSON-RPC error, and the chain keeps serving", async () => {
    const invalid = { jsonrpc: "2.0", id: null, error: { code: -32600, message: expect.stringContaining("invalid request") } };
    expect(await post("{not json")).toEqual({ status: 200, json: { jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } } });
    for (const body of ["null", "1", '"eth_chainId"', "[]"]) expect(await post(body), body).toEqual({ status: 200, json: invalid });
    expect(await post(JSON.stringify({ jsonrpc: "2.0", id: 7 }))).toEqual({ status: 200, json: { ...invalid, id: 7 } });
    // Wrong params reach the chain, which says why.
    const wrongParams = await post(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "eth_chainId", params: { a: 1 } }));
    expect(wrongParams).toMatchObject({ status: 200, json: { id: 8, error: { code: -32602 } } });
    // One bad member of a batch does not spoil the others.
    expect(await post(JSON.stringify([null, { jsonrpc: "2.0", id: 2, method: "eth_chainId" }]))).toEqual({
      status: 200,
      json: [invalid, { jsonrpc: "2.0", id: 2, result: "0x539" }],
    });
    expect((await post(JSON.stringify({ jsonrpc: "2.0", id: 9, method: "eth_chainId" }))).json).toMatchObject({ result: "0x539" });
  });
});

interface EthclientResult {
  chainId: string;
  networkId: string;
  blockNumber: number;
  gasPrice: string;
  headerNumber: string;
  headerHash: string;
  balance: string;
  ticketBroker: string;
  batchChainId: string;
  batchNetworkId: string;
}

describe("go-ethereum's ethclient (v1.13.5, as go-livepeer uses it)", () => {
  test.skipIf(!hasGo)("reads chain id, network id, block number, gas price, the latest header, a balance, a contract view and a batch", { timeout: 300_000 }, async () => {
    // The Go build cache and module cache are the user's own (go run reuses them between runs).
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        "go",
        ["run", "./cmd/devchain-ethclient"],
        { cwd: join(root, "test/interop-go"), timeout: 280_000, env: { ...process.env, DEV_CHAIN_URL: url, DEV_CHAIN_CONTROLLER: controller, DEV_CHAIN_ACCOUNT: account } },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
      );
    });
    expect(code, stderr).toBe(0);
    const got = JSON.parse(stdout) as EthclientResult;

    const rpc = async (method: string, params: unknown[] = []) =>
      ((await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }))).json as { result: unknown }).result;
    expect(got.chainId).toBe("1337");
    expect(got.networkId).toBe("1337");
    expect(got.batchChainId).toBe("1337");
    expect(got.batchNetworkId).toBe("1337");
    expect(got.blockNumber).toBeGreaterThan(0);
    expect(BigInt(got.gasPrice)).toBeGreaterThan(0n);
    expect(Number(got.headerNumber)).toBeGreaterThanOrEqual(got.blockNumber);
    // go-ethereum hashes the header it decoded: equal to the chain's hash only if every field came through.
    const block = (await rpc("eth_getBlockByNumber", ["0x" + BigInt(got.headerNumber).toString(16), false])) as { hash: string };
    expect(got.headerHash).toBe(block.hash);
    expect(BigInt(got.balance)).toBe(BigInt((await rpc("eth_getBalance", [account, "latest"])) as string));
    expect(BigInt(got.balance)).toBeGreaterThan(0n);
    expect(got.ticketBroker).toBe(ticketBroker);
  });
});
