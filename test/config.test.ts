/**
 * loadConfig: flags → typed Config, table by table (addresses, origins, rationals, discovery
 * flags, go-livepeer flags accepted with a warning, key sources), and every config mistake is
 * one ConfigError class naming the flag.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { ConfigError, loadConfig, NO_WEBHOOK_WARNING, parseFlags, type Config } from "../src/config.js";
import { DiscoveryConfigError, selectSource } from "../src/discovery/index.js";
import { KeyConfigError } from "../src/keys/load-key.js";
import { Rat } from "../src/math/rat.js";
import { createPriceLimits, PriceConfigError } from "../src/pricing/price-limits.js";

const RPC = ["-ethUrl", "http://127.0.0.1:9", "-ethController", "0x0000000000000000000000000000000000000001"];
const tmp = mkdtempSync(join(tmpdir(), "lpsigner-config-"));
const keystoreDir = join(tmp, "keystore");
mkdirSync(keystoreDir);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Flags from argv only (no LP_ environment); env for the key lookup. */
function load(argv: string[], env: NodeJS.ProcessEnv = { HOME: tmp }): Config {
  return loadConfig(parseFlags(argv, {})!, env);
}
function loadError(argv: string[], env: NodeJS.ProcessEnv = { HOME: tmp }): Error {
  try {
    load(argv, env);
  } catch (err) {
    return err as Error;
  }
  throw new Error(`no error for ${argv.join(" ")}`);
}

describe("defaults", () => {
  test("dev chain, throwaway key, loopback 8935, no CORS, go-livepeer EV limits, the no-webhook warning", () => {
    const c = load([]);
    expect(c.chain).toEqual({ kind: "dev", orchestrators: 1 });
    expect(c.key).toEqual({ kind: "throwaway" });
    expect(c.listen).toEqual({ host: "127.0.0.1", port: 8935 });
    expect(c.corsOrigins).toEqual([]);
    expect(c.limits.maxTicketEV.cmp(new Rat(3_000_000_000_000n))).toBe(0);
    expect(c.limits.maxTotalEV.cmp(new Rat(20_000_000_000_000n))).toBe(0);
    expect(c.limits.depositMultiplier).toBe(1n);
    expect(c.chainRefreshIntervalMs).toBe(5000);
    expect(c.chainMaxStalenessMs).toBe(60_000);
    expect(c.discovery).toBeUndefined();
    expect(c.webhook).toBeUndefined();
    expect(c.warnings).toEqual([NO_WEBHOOK_WARNING]);
  });

  test("a webhook: no warning; its headers parsed", () => {
    const c = load(["-remoteSignerWebhookUrl", "http://127.0.0.1:1/auth", "-remoteSignerWebhookHeaders", "X-Key:abc"]);
    expect(c.warnings).toEqual([]);
    expect(c.webhook).toEqual({ url: "http://127.0.0.1:1/auth", headers: { "X-Key": "abc" } });
  });
});

describe("-httpAddr as go-livepeer's defaultAddr", () => {
  test.each([
    ["127.0.0.1:8935", "127.0.0.1", 8935],
    [":8935", "127.0.0.1", 8935],
    [":0", "127.0.0.1", 0],
    ["", "127.0.0.1", 8935],
    ["localhost", "localhost", 8935],
    ["127.0.0.2", "127.0.0.2", 8935],
    ["[::1]:9000", "::1", 9000],
  ])("%j → %s:%d (loopback, allowed without a webhook)", (httpAddr, host, port) => {
    expect(load(["-httpAddr", httpAddr]).listen).toEqual({ host, port });
  });

  test.each([
    ["0.0.0.0", "0.0.0.0", 8935],
    ["signer.internal", "signer.internal", 8935],
    ["0.0.0.0:7000", "0.0.0.0", 7000],
  ])("%j → %s:%d, which needs a webhook or -remoteSignerAllowNoAuth", (httpAddr, host, port) => {
    expect(loadError(["-httpAddr", httpAddr])).toBeInstanceOf(ConfigError);
    expect(load(["-httpAddr", httpAddr, "-remoteSignerAllowNoAuth"]).listen).toEqual({ host, port });
  });

  test.each(["1.2.3.4:99999", "host:port", "::1"])("%j is refused naming the flag", (httpAddr) => {
    expect(loadError(["-httpAddr", httpAddr, "-remoteSignerAllowNoAuth"]).message).toMatch(/^-httpAddr/);
  });
});

describe("-workers", () => {
  test("defaults to the available parallelism; 1 keeps a single process", () => {
    expect(load([]).workers).toBe(availableParallelism());
    expect(load(["-workers", "1"]).workers).toBe(1);
    expect(load(["-workers", "3"]).workers).toBe(3);
  });
  test.each(["0", "-1", "two", "1.5", "257"])("%j is refused naming the flag", (value) => {
    expect(loadError(["-workers", value]).message).toMatch(/^-workers/);
  });
});

describe("-corsOrigins", () => {
  test.each([
    ["", []],
    ["*", ["*"]],
    ["https://app.example", ["https://app.example"]],
    [" https://app.example , http://localhost:3000 ", ["https://app.example", "http://localhost:3000"]],
  ])("%j → %j", (value, origins) => {
    expect(load(["-corsOrigins", value]).corsOrigins).toEqual(origins);
  });

  test.each(["null", "NULL", "https://a.example,null"])("%j is refused: null is every sandboxed page's origin", (value) => {
    const err = loadError(["-corsOrigins", value]);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/^-corsOrigins: "null" is not allowed/);
  });

  test.each(["app.example", "https://app.example/", "https://app.example/path", "ftp://app.example", "https://*.example"])(
    "%j is not an origin",
    (value) => {
      expect(loadError(["-corsOrigins", value]).message).toMatch(/^-corsOrigins: .* is not an origin/);
    },
  );
});

describe("-maxTicketEV / -maxTotalEV as Go big.Rat rationals", () => {
  test.each([
    ["3000000000000", new Rat(3_000_000_000_000n)],
    ["1.5e12", new Rat(1_500_000_000_000n)],
    ["3/2", new Rat(3n, 2n)],
    ["0.5", new Rat(1n, 2n)],
    ["0", new Rat(0n)],
  ])("%s", (value, rat) => {
    const c = load(["-maxTicketEV", value, "-maxTotalEV", value]);
    expect(c.limits.maxTicketEV.cmp(rat)).toBe(0);
    expect(c.limits.maxTotalEV.cmp(rat)).toBe(0);
  });

  test.each([
    ["-1", /must not be negative/],
    ["-1/2", /must not be negative/],
    ["abc", /must be a rational number/],
    ["1/0", /must be a rational number/],
    ["1".repeat(101), /must be a rational number/],
  ])("%s is refused", (value, reason) => {
    for (const flag of ["maxTicketEV", "maxTotalEV"]) {
      const err = loadError([`-${flag}`, value]);
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toMatch(new RegExp(`^-${flag} `));
      expect(err.message).toMatch(reason);
    }
  });
});

describe("discovery flags", () => {
  test("defaults: discovery's 3s poll bound (go-livepeer's discovery cache), no extra nodes, no extra nodes, empty blocklist, 25m interval", () => {
    expect(load(["-remoteDiscovery"]).discovery).toEqual({
      webhookUrl: "",
      orchAddr: "",
      intervalMs: 1_500_000,
      timeoutMs: 3000,
      extraNodes: 0,
      blocklist: [],
    });
  });

  test("-devOrchestrators: 0 to 10 on the dev chain, refused with -ethUrl", () => {
    expect(load(["-devOrchestrators", "0"]).chain).toEqual({ kind: "dev", orchestrators: 0 });
    expect(load(["-devOrchestrators", "3"]).chain).toEqual({ kind: "dev", orchestrators: 3 });
    expect(loadError(["-devOrchestrators", "11"]).message).toMatch(/-devOrchestrators must be at most 10/);
    expect(loadError(["-devOrchestrators", "two"]).message).toMatch(/-devOrchestrators must be a whole number/);
    expect(loadError(["-ethUrl", "http://127.0.0.1:8545", "-network", "arbitrum-one-mainnet", "-devOrchestrators", "2"]).message).toMatch(
      /-devOrchestrators is for the development chain/,
    );
  });

  test("-orchBlocklist (lowercased, with or without 0x), -extraNodes, -discoveryTimeout, -orchAddr", () => {
    const d = load([
      "-remoteDiscovery",
      "-orchBlocklist", "0xAbCdEf0123456789aBcDeF0123456789ABCDEF01, 1111111111111111111111111111111111111111",
      "-extraNodes", "3",
      "-discoveryTimeout", "2s",
      "-orchAddr", "https://o1:8935,https://o2:8935",
    ]).discovery!;
    expect(d.blocklist).toEqual(["0xabcdef0123456789abcdef0123456789abcdef01", "0x1111111111111111111111111111111111111111"]);
    expect(d.extraNodes).toBe(3);
    expect(d.timeoutMs).toBe(2000);
    expect(d.orchAddr).toBe("https://o1:8935,https://o2:8935");
  });

  test.each([
    [["-orchBlocklist", "0x1234"], /^-orchBlocklist: not an Ethereum address: "0x1234"/],
    [["-extraNodes", "-1"], /^-extraNodes must be a whole number/],
    [["-extraNodes", "two"], /^-extraNodes must be a whole number/],
    [["-discoveryTimeout", "5"], /^-discoveryTimeout: invalid duration/],
  ])("%j is refused", (argv, reason) => {
    expect(loadError(["-remoteDiscovery", ...argv]).message).toMatch(reason);
  });
});

describe("go-livepeer flags lpsigner accepts", () => {
  test("-monitor is accepted without a warning (metrics are always on /metrics)", () => {
    expect(load(["-monitor"]).warnings).toEqual([NO_WEBHOOK_WARNING]);
  });

  test.each([
    [["-metadataAmqpExchange", "x"], "metadataAmqpExchange"],
    [["-metadataQueueUri", "amqp://q"], "metadataQueueUri"],
    [["-metricsPerStream"], "metricsPerStream"],
    [["-maxGasPrice", "1"], "maxGasPrice"],
  ])("%j is accepted with a WARNING naming it", (argv, name) => {
    const warnings = load(argv).warnings;
    expect(warnings.some((w) => w.startsWith(`-${name} is ignored: lpsigner has no `))).toBe(true);
  });

  test("a warning never quotes the ignored value (it may be a password)", () => {
    const warnings = load(["-metadataQueueUri", "amqp://u:amqp-secret-pw@q"]).warnings.join("\n");
    expect(warnings).toContain("-metadataQueueUri is ignored");
    expect(warnings).not.toContain("amqp-secret-pw");
  });

  test("an unsupported bool flag set to false, or a flag left at its default, warns nothing", () => {
    expect(load(["-metricsPerStream=false", "-metadataQueueUri="]).warnings).toEqual([NO_WEBHOOK_WARNING]);
  });
});

describe("the key: where it comes from, and never a real key on the dev chain", () => {
  test.each([
    [["-ethKeystorePath", keystoreDir], {}, "-ethKeystorePath"],
    [["-dataDir", tmp], {}, "-dataDir"],
    [["-datadir", tmp], {}, "-dataDir"],
    [[], { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: "0x" + "11".repeat(32) }, "LPSIGNER_UNSAFE_DEV_PRIVATE_KEY"],
  ])("%j %j without -ethUrl: refused", (argv, env, named) => {
    const err = loadError(argv, { HOME: tmp, ...env });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(new RegExp(`^${named} names a key but there is no -ethUrl`));
  });

  test("-ethKeystorePath with -ethUrl; the password file is read at load", () => {
    const c = load([...RPC, "-ethKeystorePath", keystoreDir, "-ethAcctAddr", "0xabc", "-ethPassword", "pw"]);
    expect(c.key).toEqual({ kind: "keystore", path: keystoreDir, address: "0xabc", password: "pw" });
  });

  test("-dataDir (or the deprecated -datadir): its keystore/ directory, as go-livepeer", () => {
    expect(load([...RPC, "-dataDir", tmp]).key).toMatchObject({ kind: "keystore", path: keystoreDir });
    expect(load([...RPC, "-datadir", tmp]).key).toMatchObject({ kind: "keystore", path: keystoreDir });
  });

  test("no key flag with -ethUrl: ~/.lpData/<network>/keystore, as go-livepeer's default data dir", () => {
    const home = join(tmp, "home");
    mkdirSync(join(home, ".lpData", "arbitrum-one-mainnet", "keystore"), { recursive: true });
    const c = load(["-ethUrl", "http://127.0.0.1:9", "-network", "arbitrum-one-mainnet"], { HOME: home });
    expect(c.key).toMatchObject({ kind: "keystore", path: join(home, ".lpData", "arbitrum-one-mainnet", "keystore") });
    expect(c.chain).toEqual({ kind: "rpc", ethUrl: "http://127.0.0.1:9", controllerAddress: "0xD8E8328501E9645d16Cf49539efC04f734606ee4" });
  });

  test("no keystore anywhere with -ethUrl: an error naming where it looked", () => {
    const err = loadError([...RPC, "-dataDir", join(tmp, "empty")]);
    expect(err.message).toBe(`-ethKeystorePath is required with -ethUrl: no keystore at ${join(tmp, "empty", "keystore")} (set -ethKeystorePath or -dataDir)`);
  });

  test("the raw development key with -ethUrl", () => {
    const hex = "0x" + "22".repeat(32);
    expect(load(RPC, { LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: hex }).key).toEqual({ kind: "raw", hex });
  });

  test("-ethPassword naming a missing file is an error, not a password", () => {
    const err = loadError([...RPC, "-ethKeystorePath", keystoreDir, "-ethPassword", join(tmp, "missing.pw")]);
    expect(err).toBeInstanceOf(KeyConfigError);
    expect(err.message).not.toContain("missing.pw");
  });
});

describe("-ethUrl and the chain", () => {
  test("user:password, path and query are kept for the client", () => {
    const url = "https://user:pa%40ss@rpc.example:8443/v2/KEY?x=1";
    expect(load(["-ethUrl", url, "-ethController", "0x0000000000000000000000000000000000000001", "-ethKeystorePath", keystoreDir]).chain).toEqual({
      kind: "rpc",
      ethUrl: url,
      controllerAddress: "0x0000000000000000000000000000000000000001",
    });
  });

  test.each(["not a url secret-token", "ftp://user:secret-pw@host/x", "ws://host:8546/secret-key"])(
    "%j is refused without quoting it",
    (ethUrl) => {
      const err = loadError(["-ethUrl", ethUrl, "-ethController", "0x0000000000000000000000000000000000000001"]);
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toMatch(/^-ethUrl: /);
      expect(err.message).not.toMatch(/secret/);
    },
  );

  test("-network needs -ethUrl; an unknown network needs -ethController; a bad controller is named", () => {
    expect(loadError(["-network", "arbitrum-one-mainnet"]).message).toBe("-network arbitrum-one-mainnet needs -ethUrl");
    expect(loadError(["-ethUrl", "http://127.0.0.1:9", "-network", "mynet"]).message).toMatch(/^-ethController is required/);
    expect(loadError(["-ethUrl", "http://127.0.0.1:9", "-ethController", "0x12"]).message).toMatch(/^-ethController: not an Ethereum address/);
  });
});

describe("one ConfigError base", () => {
  test("keys, prices, discovery and flag mistakes are all ConfigErrors", () => {
    expect(new KeyConfigError("x")).toBeInstanceOf(ConfigError);
    expect(() => createPriceLimits({ maxPricePerUnit: "x", pixelsPerUnit: "1", maxPricePerCapability: "" })).toThrow(PriceConfigError);
    expect(loadError(["-maxPricePerUnit", "x"])).toBeInstanceOf(ConfigError);
    expect(() => selectSource({ webhookUrl: "ftp://x", orchAddr: "" })).toThrow(DiscoveryConfigError);
    expect(new DiscoveryConfigError("x")).toBeInstanceOf(ConfigError);
    expect(loadError(["-logLevel", "loud"]).message).toMatch(/^-logLevel must be one of/);
    expect(loadError(["-tlsCert", join(tmp, "none.pem")]).message).toBe("-tlsCert and -tlsKey go together");
    expect(loadError(["-tlsCert", join(tmp, "none.pem"), "-tlsKey", join(tmp, "none.key")]).message).toMatch(/^-tlsCert: cannot read .*ENOENT/);
  });
});

describe("usage events (-events and its quotas)", () => {
  test("off by default; -events or -eventsDb turns them on with the documented defaults", () => {
    expect(load([]).events).toBeUndefined();
    expect(load(["-events"]).events).toEqual({ path: join(tmp, ".lpData", "dev", "events.db"), maxBytes: 1_073_741_824, maxCount: 2_000_000, retentionMs: 24 * 3_600_000, gateway: "" });
    const c = load(["-eventsDb", join(tmp, "e.db"), "-eventsMaxBytes", "1000", "-eventsMaxCount", "10", "-eventsRetention", "90m"]);
    expect(c.events).toMatchObject({ path: join(tmp, "e.db"), maxBytes: 1000, maxCount: 10, retentionMs: 90 * 60_000 });
    expect(load(["-events", "-eventsRetention", "0"]).events?.retentionMs).toBeUndefined();
  });

  test.each([
    [["-eventsMaxBytes", "-5"], /-eventsMaxBytes must be a whole number of bytes, got "-5"/],
    [["-eventsMaxBytes", "1e9"], /-eventsMaxBytes must be a whole number of bytes, got "1e9"/],
    [["-eventsMaxBytes", "0"], /-eventsMaxBytes and -eventsMaxCount must be at least 1/],
    [["-eventsMaxCount", "0"], /-eventsMaxBytes and -eventsMaxCount must be at least 1/],
    [["-eventsRetention", "-1h"], /-eventsRetention: invalid duration "-1h"/],
    [["-eventsRetention", "1x"], /-eventsRetention: invalid duration "1x"/],
  ])("%j is refused, with events on or off", (argv, message) => {
    for (const on of [["-events"], []]) {
      const err = loadError([...on, ...argv]);
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toMatch(message);
    }
  });

  test("a quota or retention given while events are off: a start-up warning that it has no effect", () => {
    const warnings = load(["-eventsMaxBytes", "1000", "-eventsRetention", "1h"]).warnings;
    expect(warnings).toContain("-eventsMaxBytes, -eventsRetention have no effect: usage events are off (-events, -eventsDb or -kafkaBootstrapServers turns them on)");
    expect(load(["-events", "-eventsMaxBytes", "1000"]).warnings.join("\n")).not.toContain("no effect");
    expect(load([]).warnings.join("\n")).not.toContain("no effect");
  });
});
