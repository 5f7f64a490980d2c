/**
 * npm run fund (scripts/fund-sender.ts) run as an operator runs it, against the development chain
 * over JSON-RPC: a fresh keystore key with ETH from a dev account, a password file, and the
 * TicketBroker's deposit and reserve read back from the chain.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Contract, Wallet, encryptKeystoreJson, parseEther } from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startDevChain, type DevChain } from "../src/dev-chain/dev-chain.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const script = join(root, "scripts/fund-sender.ts");

let chain: DevChain;
let dir: string;
let broker: Contract;
const sender = Wallet.createRandom();

/** Runs the script as `npm run fund` does (tsx), never throwing: exit code and output. */
function fund(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", script, ...args],
      { cwd: root, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function funds() {
  const [s, r] = await broker.getFunction("getSenderInfo")(sender.address);
  return { deposit: s.deposit as bigint, reserve: r.fundsRemaining as bigint };
}

beforeAll(async () => {
  chain = await startDevChain();
  broker = new Contract(chain.contracts.TicketBroker, chain.abis.TicketBroker, chain.provider);
  dir = mkdtempSync(join(tmpdir(), "lpsigner-fund-"));
  // A cheap scrypt: the keystore format is the real one, the test need not spend seconds on it.
  writeFileSync(join(dir, "key.json"), await encryptKeystoreJson({ address: sender.address, privateKey: sender.privateKey }, "correct horse", { scrypt: { N: 1024 } }));
  writeFileSync(join(dir, "password"), "correct horse\n");
  const gasMoney = new Wallet(chain.accounts[1]!.privateKey, chain.provider);
  await (await gasMoney.sendTransaction({ to: sender.address, value: parseEther("5") })).wait();
});

afterAll(async () => {
  await chain?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const common = () => [
  "--ethController",
  chain.controllerAddress,
  "--ethKeystorePath",
  join(dir, "key.json"),
  "--ethPassword",
  join(dir, "password"),
];

describe("npm run fund", () => {
  test("--dry-run prints the call it would send and sends nothing; the RPC credentials are never printed", async () => {
    const url = new URL(chain.url);
    url.username = "operator";
    url.password = "rpc-secret";
    const { code, stdout, stderr } = await fund([...common(), "--deposit", "1", "--reserve", "0.5", "--dry-run"], { LP_ETHURL: url.toString() });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain(`account      ${sender.address}`);
    expect(stdout).toContain(`TicketBroker ${chain.contracts.TicketBroker}`);
    expect(stdout).toContain("would send   fundDepositAndReserve(1000000000000000000, 500000000000000000) with value 1500000000000000000 wei (1.5 ETH)");
    expect(stdout).toContain("dry run: nothing sent");
    expect(stdout).not.toContain("rpc-secret");
    expect(await funds()).toEqual({ deposit: 0n, reserve: 0n });
  });

  test("funds the deposit and reserve on chain, and adds to them when run again", async () => {
    const first = await fund(["--ethUrl", chain.url, ...common(), "--deposit", "1", "--reserve", "0.5"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("now          deposit 1.0 ETH, reserve 0.5 ETH, withdrawRound 0");
    expect(await funds()).toEqual({ deposit: parseEther("1"), reserve: parseEther("0.5") });

    const second = await fund(["--ethUrl", chain.url, ...common(), "--deposit", "250000000000000000wei"]);
    expect(second.code).toBe(0);
    expect(await funds()).toEqual({ deposit: parseEther("1.25"), reserve: parseEther("0.5") });
    // The ETH came from the key's own balance: 1.75 ETH funded plus gas.
    expect(await chain.provider.getBalance(sender.address)).toBeLessThan(parseEther("3.25"));
  });

  test("mistakes are one line and exit 2, before anything is sent", async () => {
    const before = await funds();
    const cases: [string[], RegExp][] = [
      [["--ethUrl", chain.url, ...common(), "--depositt", "1"], /^fund: Unknown option '--depositt' \(see --help\)/],
      [["--ethUrl", chain.url, ...common()], /^fund: nothing to fund/],
      [["--ethUrl", chain.url, ...common(), "--deposit", "1e18"], /^fund: --deposit: give ETH/],
      // A password given as the value instead of a file is refused, not tried.
      [["--ethUrl", chain.url, ...common().slice(0, 4), "--ethPassword", "correct horse", "--deposit", "1"], /^fund: --ethPassword .* must name a file/],
      [["--ethUrl", chain.url, ...common().slice(0, 4), "--ethPassword", join(dir, "key.json"), "--deposit", "1"], /^fund: -ethPassword: cannot decrypt/],
    ];
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await fund(args);
      expect(stdout).toBe("");
      expect(stderr).toMatch(message);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(code).toBe(2);
    }
    expect(await funds()).toEqual(before);
  });
});
