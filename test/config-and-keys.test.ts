/**
 * Flags (Go syntax, LP_ environment), durations and header lists; go-ethereum keystore keys
 * made at test time by ethers with light scrypt; and startSigner's refusals that must happen
 * before anything starts.
 */
import { encryptKeystoreJson, Wallet } from "ethers";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConfigError, FLAGS, parseDuration, parseFlags, parseHeaderList, type RawFlags } from "../src/config.js";
import { fromHex, keccak256, toHex, utf8 } from "../src/crypto/bytes.js";
import { createEthSigner, verifySignature } from "../src/crypto/eth-sign.js";
import { KeyConfigError, loadKeystoreKey, resolvePassword } from "../src/keys/load-key.js";
import { startDevChain } from "../src/dev-chain/dev-chain.js";
import { startSigner } from "../src/start-signer.js";

const NO_ENV = {};

describe("parseFlags", () => {
  test("no arguments: the documented defaults", () => {
    const f = parseFlags([], NO_ENV)!;
    expect(f.httpAddr).toBe("127.0.0.1:8935");
    expect(f.cliAddr).toBe("127.0.0.1:3935");
    expect(f.maxTicketEV).toBe("3000000000000");
    expect(f.maxTotalEV).toBe("20000000000000");
    expect(f.depositMultiplier).toBe("1");
    expect(f.maxPricePerUnit).toBe("0");
    expect(f.pixelsPerUnit).toBe("1");
    expect(f.remoteSignerAllowNoAuth).toBe("false");
    expect(f.remoteSignerWebhookUrl).toBe("");
    expect(f.network).toBe("");
    expect(Object.keys(f).sort()).toEqual(Object.keys(FLAGS).sort());
  });

  test("-name value, -name=value, --name value and --name=value", () => {
    const f = parseFlags(
      ["-httpAddr", "127.0.0.1:1", "-ethAcctAddr=0xabc", "--maxTicketEV", "5", "--maxTotalEV=6", "-remoteSignerWebhookHeaders=a:b=c"],
      NO_ENV,
    )!;
    expect(f.httpAddr).toBe("127.0.0.1:1");
    expect(f.ethAcctAddr).toBe("0xabc");
    expect(f.maxTicketEV).toBe("5");
    expect(f.maxTotalEV).toBe("6");
    expect(f.remoteSignerWebhookHeaders).toBe("a:b=c");
  });

  test("an empty value with -name= and a value that looks like a flag after -name", () => {
    const f = parseFlags(["-corsOrigins=", "-ethPassword", "-secret-"], NO_ENV)!;
    expect(f.corsOrigins).toBe("");
    expect(f.ethPassword).toBe("-secret-");
  });

  test("bool flags take no separate value; -name=false works; bad booleans are refused", () => {
    const f = parseFlags(["-remoteSignerAllowNoAuth", "-remoteDiscovery=false", "-httpAddr", "127.0.0.1:2"], NO_ENV)!;
    expect(f.remoteSignerAllowNoAuth).toBe("true");
    expect(f.remoteDiscovery).toBe("false");
    expect(f.httpAddr).toBe("127.0.0.1:2");
    // Go's flag package: a bool flag never consumes the next argument.
    expect(() => parseFlags(["-remoteSignerAllowNoAuth", "true"], NO_ENV)).toThrow(ConfigError);
    expect(() => parseFlags(["-remoteDiscovery=yes"], NO_ENV)).toThrow(/-remoteDiscovery: invalid boolean/);
  });

  test("LP_<NAME> environment variables; the command line wins", () => {
    const env = { LP_HTTPADDR: "127.0.0.1:7", LP_REMOTESIGNERALLOWNOAUTH: "true", LP_MAXTICKETEV: "9" };
    const fromEnv = parseFlags([], env)!;
    expect(fromEnv.httpAddr).toBe("127.0.0.1:7");
    expect(fromEnv.remoteSignerAllowNoAuth).toBe("true");
    expect(fromEnv.maxTicketEV).toBe("9");
    const both = parseFlags(["-httpAddr=127.0.0.1:8"], env)!;
    expect(both.httpAddr).toBe("127.0.0.1:8");
  });

  test("an unknown flag is an error naming it", () => {
    expect(() => parseFlags(["-nope", "1"], NO_ENV)).toThrow(ConfigError);
    expect(() => parseFlags(["-nope", "1"], NO_ENV)).toThrow(/unknown flag -nope/);
    expect(() => parseFlags(["--httpaddr", "x"], NO_ENV)).toThrow(/unknown flag -httpaddr/);
  });

  test("a missing value and a stray argument are errors", () => {
    expect(() => parseFlags(["-httpAddr"], NO_ENV)).toThrow(/-httpAddr needs a value/);
    expect(() => parseFlags(["serve"], NO_ENV)).toThrow(/unexpected argument "serve"/);
  });

  test("-h, -help and --help return undefined", () => {
    expect(parseFlags(["--help"], NO_ENV)).toBeUndefined();
    expect(parseFlags(["-help"], NO_ENV)).toBeUndefined();
    expect(parseFlags(["-httpAddr", "127.0.0.1:1", "-h"], NO_ENV)).toBeUndefined();
  });
});

describe("parseDuration", () => {
  test.each([
    ["30s", 30_000],
    ["25m", 1_500_000],
    ["1m30s", 90_000],
    ["1h", 3_600_000],
    ["1.5h", 5_400_000],
    ["500ms", 500],
    ["250us", 0.25],
    ["0", 0],
    ["0s", 0],
  ])("%s = %d ms", (text, ms) => {
    expect(parseDuration(text, "d")).toBe(ms);
  });

  test.each(["", "10", "5x", "s", "1m 30s", "m5"])("%j is refused naming the flag", (text) => {
    expect(() => parseDuration(text, "chainRefreshInterval")).toThrow(ConfigError);
    expect(() => parseDuration(text, "chainRefreshInterval")).toThrow(/^-chainRefreshInterval: invalid duration/);
  });
});

describe("parseHeaderList", () => {
  test("'k:v,k2:v2' → {k: v, k2: v2}, values may hold colons, space trimmed", () => {
    expect(parseHeaderList("k:v,k2:v2", "h")).toEqual({ k: "v", k2: "v2" });
    expect(parseHeaderList("Authorization: Bearer a:b , X-Id:7", "h")).toEqual({ Authorization: "Bearer a:b", "X-Id": "7" });
    expect(parseHeaderList("", "h")).toEqual({});
    expect(parseHeaderList("  ", "h")).toEqual({});
  });

  test("a pair without a name is an error naming the flag", () => {
    expect(() => parseHeaderList("novalue", "remoteSignerWebhookHeaders")).toThrow(/^-remoteSignerWebhookHeaders: expected 'name:value'/);
    expect(() => parseHeaderList(":v", "remoteSignerWebhookHeaders")).toThrow(ConfigError);
    expect(() => parseHeaderList("a:b,", "remoteSignerWebhookHeaders")).toThrow(ConfigError);
  });
});

describe("keystore keys", () => {
  const PASSWORD = "correct horse battery staple";
  let dir: string;
  let one: { address: string; privateKey: string };
  let two: { address: string; privateKey: string };
  let oneFile: string;
  let pairDir: string;

  const keystore = (w: { address: string; privateKey: string }, password = PASSWORD) =>
    encryptKeystoreJson({ address: w.address, privateKey: w.privateKey }, password, { scrypt: { N: 1024 } });
  /** go-ethereum's file name: UTC--<time>--<lowercase address without 0x> */
  const gethName = (w: { address: string }) => `UTC--2026-01-01T00-00-00.000000000Z--${w.address.slice(2).toLowerCase()}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lpsigner-keys-"));
    one = Wallet.createRandom();
    two = Wallet.createRandom();
    const [j1, j2] = await Promise.all([keystore(one), keystore(two)]);
    oneFile = join(dir, gethName(one));
    writeFileSync(oneFile, j1);
    pairDir = join(dir, "pair");
    mkdirSync(pairDir);
    writeFileSync(join(pairDir, gethName(one)), j1);
    writeFileSync(join(pairDir, gethName(two)), j2);
    writeFileSync(join(pairDir, "README.txt"), "not a key");
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const keyHex = (k: Uint8Array) => "0x" + toHex(k);

  test("by file path", async () => {
    const key = await loadKeystoreKey({ path: oneFile, address: "", password: PASSWORD });
    expect(keyHex(key)).toBe(one.privateKey);
    expect(createEthSigner(key).addressHex).toBe(one.address);
  });

  test("by directory and -ethAcctAddr (checksummed or lowercase); stray files are ignored", async () => {
    const k2 = await loadKeystoreKey({ path: pairDir, address: two.address, password: PASSWORD });
    expect(keyHex(k2)).toBe(two.privateKey);
    const k1 = await loadKeystoreKey({ path: pairDir, address: one.address.toLowerCase(), password: PASSWORD });
    expect(keyHex(k1)).toBe(one.privateKey);
  });

  test("a directory with one key needs no address", async () => {
    const key = await loadKeystoreKey({ path: dir, address: "", password: PASSWORD });
    expect(keyHex(key)).toBe(one.privateKey);
  });

  test("a directory with two keys and no address: a clear error", async () => {
    const err = await loadKeystoreKey({ path: pairDir, address: "", password: PASSWORD }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyConfigError);
    expect((err as Error).message).toMatch(/several keys/);
    expect((err as Error).message).toContain("-ethAcctAddr");
  });

  test("an address with no key in the directory, a bad address, a missing path", async () => {
    const other = Wallet.createRandom();
    await expect(loadKeystoreKey({ path: pairDir, address: other.address, password: PASSWORD })).rejects.toThrow(
      new RegExp(`no key for ${other.address}`),
    );
    await expect(loadKeystoreKey({ path: pairDir, address: "0x1234", password: PASSWORD })).rejects.toThrow(/-ethAcctAddr: not an Ethereum address/);
    await expect(loadKeystoreKey({ path: join(dir, "missing"), address: "", password: PASSWORD })).rejects.toThrow(/does not exist/);
  });

  test("wrong password: an error that quotes neither the password nor the key", async () => {
    const wrong = "hunter2-wrong-password";
    const err = await loadKeystoreKey({ path: oneFile, address: "", password: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyConfigError);
    const text = `${(err as Error).message}\n${(err as Error).stack ?? ""}\n${JSON.stringify(err)}\n${String((err as Error).cause ?? "")}`;
    expect(text).toMatch(/-ethPassword: cannot decrypt/);
    expect(text).not.toContain(wrong);
    expect(text).not.toContain(PASSWORD);
    expect(text.toLowerCase()).not.toContain(one.privateKey.slice(2).toLowerCase());
    expect((err as Error).cause).toBeUndefined();
  });

  test("resolvePassword: a path to a file is read (trailing newline dropped); anything else is the password", () => {
    const file = join(dir, "password.txt");
    writeFileSync(file, `${PASSWORD}\n`);
    expect(resolvePassword(file)).toBe(PASSWORD);
    writeFileSync(file, `${PASSWORD}\r\n`);
    expect(resolvePassword(file)).toBe(PASSWORD);
    expect(resolvePassword(PASSWORD)).toBe(PASSWORD);
    expect(resolvePassword("")).toBe("");
    expect(resolvePassword(dir)).toBe(dir); // a directory is not a password file
    // A path-like value that names nothing is a mistake, not a password (and is not quoted back).
    for (const missing of [join(dir, "no-such-password-file"), "~/pw.txt", "./pw.txt", "secrets/pw"]) {
      expect(() => resolvePassword(missing), missing).toThrow(KeyConfigError);
      expect(() => resolvePassword(missing)).toThrow(/^-ethPassword looks like a file path, but no such file exists/);
    }
  });

  test("startSigner with a keystore file and a password file serves that key (against -ethUrl)", async () => {
    const file = join(dir, "password-start.txt");
    writeFileSync(file, `${PASSWORD}\n`);
    const chain = await startDevChain({ port: 0 });
    try {
      const running = await startSigner(
        {
          ...parseFlags([], NO_ENV)!,
          ethUrl: chain.url,
          ethController: chain.controllerAddress,
          ethKeystorePath: oneFile,
          ethPassword: file,
          httpAddr: "127.0.0.1:0",
          logLevel: "silent",
        },
        pino({ level: "silent" }),
      );
      try {
        expect(running.address).toBe(one.address);
        expect(running.devChain).toBeUndefined();
        const res = await fetch(`${running.url}/sign-orchestrator-info`, { method: "POST" });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { address: string; signature: string };
        expect(body.address).toBe(one.address);
        expect(body.signature).toMatch(/^0x[0-9a-f]{130}$/);
        expect(verifySignature(fromHex(one.address), keccak256(utf8.encode(one.address)), fromHex(body.signature))).toBe(true);
      } finally {
        await running.close();
      }
    } finally {
      await chain.close();
    }
  });

  test("a password file opens the keystore", async () => {
    const file = join(dir, "password-2.txt");
    writeFileSync(file, `${PASSWORD}\n`);
    const key = await loadKeystoreKey({ path: oneFile, address: "", password: resolvePassword(file) });
    expect(keyHex(key)).toBe(one.privateKey);
  });
});

describe("startSigner refuses unsafe or impossible configurations before anything starts", () => {
  const silent = pino({ level: "silent" });
  /** Defaults, then overrides; a keystore path that cannot load shows whether start got that far. */
  const flags = (over: Partial<RawFlags>): RawFlags => ({
    ...parseFlags([], NO_ENV)!,
    ethUrl: "http://127.0.0.1:9",
    ethController: "0x0000000000000000000000000000000000000001",
    ethKeystorePath: join(tmpdir(), "lpsigner-no-such-keystore"),
    ...over,
  });

  test.each(["0.0.0.0:0", "[::]:0", "192.0.2.1:0", "0.0.0.0"])(
    "-httpAddr %s without a webhook or -remoteSignerAllowNoAuth: ConfigError",
    async (httpAddr) => {
      const err = await startSigner(flags({ httpAddr }), silent).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(`-httpAddr ${httpAddr} is not loopback`);
      expect((err as Error).message).toContain("-remoteSignerAllowNoAuth");
    },
  );

  test("with a webhook, or -remoteSignerAllowNoAuth, or on loopback, start goes on (to the key)", async () => {
    for (const over of [
      { httpAddr: "0.0.0.0:0", remoteSignerWebhookUrl: "http://127.0.0.1:9/auth" },
      { httpAddr: "0.0.0.0:0", remoteSignerAllowNoAuth: "true" },
      { httpAddr: "127.0.0.1:0" },
      { httpAddr: "localhost:0" },
    ]) {
      const err = await startSigner(flags(over), silent).catch((e: unknown) => e);
      expect(err, JSON.stringify(over)).toBeInstanceOf(KeyConfigError);
    }
  });

  test("-network offchain is refused", async () => {
    const err = await startSigner(flags({ network: "offchain" }), silent).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain("offchain");
  });

  test("a webhook URL that is not http(s) is refused", async () => {
    const err = await startSigner(flags({ remoteSignerWebhookUrl: "ftp://x" }), silent).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain("-remoteSignerWebhookUrl");
  });

  test("bad numbers and durations name their flag", async () => {
    await expect(startSigner(flags({ maxTicketEV: "12 wei" }), silent)).rejects.toThrow(/-maxTicketEV/);
    await expect(startSigner(flags({ maxTotalEV: "-1" }), silent)).rejects.toThrow(/-maxTotalEV must not be negative/);
    await expect(startSigner(flags({ depositMultiplier: "0" }), silent)).rejects.toThrow(/-depositMultiplier/);
    await expect(startSigner(flags({ chainRefreshInterval: "5" }), silent)).rejects.toThrow(/-chainRefreshInterval/);
    await expect(startSigner(flags({ remoteSignerWebhookHeaders: "oops" }), silent)).rejects.toThrow(/-remoteSignerWebhookHeaders/);
  });
});
