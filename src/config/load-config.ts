/**
 * Flags → a typed Config (bigint/Rat wei, ms durations, parsed addresses and URLs), with every
 * check that needs no network done here, so a bad configuration fails before anything starts.
 */
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { join } from "node:path";
import { getAddress, isAddress } from "ethers/address";
import { networkControllers } from "../chain/chain-client.js";
import { parseEthEndpoint } from "../chain/eth-url.js";
import { resolvePassword } from "../keys/load-key.js";
import type { SenderLimits } from "../pm/sender-validation.js";
import { ceilingCurrencies, createPriceLimits, type PriceLimits } from "../pricing/price-limits.js";
import { DEFAULT_POLL_TIMEOUT_MS } from "../discovery/poll-orchestrator.js";
import { parseKafkaConfig, type KafkaConfig } from "../events/kafka-config.js";
import { ConfigError } from "./errors.js";
import { FLAGS, flagBool, unsupportedFlagWarnings, type FlagName as RawFlagName, type RawFlags } from "./flags.js";
import {
  defaultAddr,
  isLoopbackHost,
  parseAddressList,
  parseCorsOrigins,
  parseCount,
  parseHostList,
  parsePositiveCount,
  parseDuration,
  parseHeaderList,
  parseHttpUrl,
  parseListenAddr,
  parseNonNegativeRat,
  parseWei,
} from "./values.js";

/** go-livepeer's warning, logged at start when payments are signed for any caller that reaches the port. */
export const NO_WEBHOOK_WARNING =
  "WARNING: remote signer has no webhook auth. /generate-live-payment is UNAUTHENTICATED and signs payments from this node's deposit. Set -remoteSignerWebhookUrl.";

/** More processes than this is a typo, not a machine. */
export const MAX_WORKERS = 256;

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export type KeySource =
  | { kind: "keystore"; path: string; address: string; password: string }
  /** Keys that never enter this process; `address` (-ethAcctAddr, may be "") must match the key's. */
  | { kind: "pkcs11"; module: string; tokenLabel: string; keyLabel: string; keyId: string; pin: string; address: string; timeoutMs: number }
  | { kind: "kms"; keyId: string; region: string; endpoint: string; address: string; timeoutMs: number }
  | { kind: "jsonrpc"; url: string; tlsCert: string; tlsKey: string; ca: string; address: string; timeoutMs: number }
  /** LPSIGNER_UNSAFE_DEV_PRIVATE_KEY */
  | { kind: "raw"; hex: string }
  /** Dev chain only: a fresh key for this run. */
  | { kind: "throwaway" };

export type ChainConfig =
  /** orchestrators: how many development orchestrators to start on it. */
  | { kind: "dev"; orchestrators: number }
  /** ethUrl may hold secrets: pass it only to the chain client; print chain/eth-url's redacted form. */
  | { kind: "rpc"; ethUrl: string; controllerAddress: string };

export interface DiscoveryConfig {
  webhookUrl: string;
  orchAddr: string;
  intervalMs: number;
  timeoutMs: number;
  extraNodes: number;
  /** Lowercase 0x-hex addresses. */
  blocklist: string[];
}

export interface PriceFeedConfig {
  /** Checksummed, or "" for the default: the dev chain's feed, else go-livepeer's Arbitrum One ETH / USD feed. */
  address: string;
  maxAgeMs: number;
  intervalMs: number;
}

/** go-livepeer's -priceFeedAddr default: Chainlink's ETH / USD feed on Arbitrum One. */
export const DEFAULT_PRICE_FEED_ADDR = "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612";

export interface Config {
  network: string;
  chain: ChainConfig;
  key: KeySource;
  listen: { host: string; port: number };
  tls: { cert: string; key: string } | undefined;
  limits: SenderLimits;
  prices: PriceLimits;
  /** Set when a ceiling is in a currency (USD): the feed that converts it; address "" = the chain's default. */
  priceFeed: PriceFeedConfig | undefined;
  webhook: { url: string; headers: Record<string, string>; body?: "extended" } | undefined;
  corsOrigins: string[];
  /** Host names a loopback listener also accepts (lower case, no port). */
  allowedHosts: string[];
  /** Per-process bounds: payment calls in flight, long-lived streams open. */
  admission: { maxInFlightPayments: number; maxStreams: number };
  chainRefreshIntervalMs: number;
  chainMaxStalenessMs: number;
  discovery: DiscoveryConfig | undefined;
  /** -byoc and -byocPerCapPricing (the latter only with the former). */
  byoc: { enabled: boolean; perCapPricing: boolean };
  logLevel: string;
  /** Worker processes sharing the listening port (-workers); 1 serves from the main process. */
  workers: number;
  /** The event outbox (-events); undefined: no events. */
  events?: EventsConfig;
  /** Delivery of usage events to Kafka (-kafkaBootstrapServers); undefined: they stay in the outbox. */
  kafka?: KafkaConfig;
  /** Startup WARNING lines (ignored flags, no webhook). */
  warnings: string[];
}

export interface EventsConfig {
  path: string;
  maxBytes: number;
  maxCount: number;
  /** Rows older than this are pruned (no Kafka); undefined: kept until delivered. */
  retentionMs: number | undefined;
  /** The envelope's gateway field (-gatewayHost). */
  gateway: string;
}

/** The outbox file: -eventsDb, else <dataDir>/events.db (dataDir: -dataDir, else ~/.lpData/<network or dev>). */
export function loadEventsPath(flags: RawFlags, env: NodeJS.ProcessEnv = process.env): string {
  if (flags.eventsDb !== "") return flags.eventsDb;
  const dataDir = flags.dataDir || flags.datadir;
  return join(dataDir !== "" ? dataDir : join(env.HOME || homedir(), ".lpData", flags.network || "dev"), "events.db");
}

/**
 * -events and its quotas; the file defaults to <dataDir>/events.db as the keystore's directory.
 * Events are on with -events, -eventsDb or Kafka: off by default while the outbox write costs the
 * payment path more than its target (docs/performance.md), and so that a development run writes
 * nothing under the user's home unasked.
 */
function eventsConfig(flags: RawFlags, env: NodeJS.ProcessEnv, kafka: boolean, warnings: string[]): EventsConfig | undefined {
  // The quotas and retention are checked with events off too: a bad value is an error either way.
  const bytesText = flags.eventsMaxBytes.trim();
  if (!/^\d{1,15}$/.test(bytesText)) throw new ConfigError(`-eventsMaxBytes must be a whole number of bytes, got ${JSON.stringify(flags.eventsMaxBytes)}`);
  const maxBytes = Number(bytesText);
  const maxCount = parseCount(flags.eventsMaxCount, "eventsMaxCount");
  if (maxBytes < 1 || maxCount < 1) throw new ConfigError("-eventsMaxBytes and -eventsMaxCount must be at least 1");
  let retentionMs: number | undefined;
  if (flags.eventsRetention !== "") retentionMs = parseDuration(flags.eventsRetention, "eventsRetention") || undefined;
  else if (!kafka) retentionMs = 24 * 3600_000;
  if (kafka && retentionMs !== undefined) throw new ConfigError("-eventsRetention applies without Kafka: with -kafkaBootstrapServers events stay until delivered");
  if (!flagBool(flags.events) && flags.eventsDb === "" && !kafka) {
    const set = (["eventsMaxBytes", "eventsMaxCount", "eventsRetention"] as const).filter((f) => flags[f] !== FLAGS[f].default);
    if (set.length > 0) warnings.push(`${set.map((f) => `-${f}`).join(", ")} ha${set.length > 1 ? "ve" : "s"} no effect: usage events are off (-events, -eventsDb or -kafkaBootstrapServers turns them on)`);
    return undefined;
  }
  const path = loadEventsPath(flags, env);
  return { path, maxBytes, maxCount, retentionMs, gateway: flags.gatewayHost };
}

/** -priceFeedAddr and its timings, checked; undefined when no ceiling needs a conversion. */
function priceFeedConfig(flags: RawFlags, needed: boolean): PriceFeedConfig | undefined {
  const address = flags.priceFeedAddr.trim();
  if (address !== "" && !isAddress(address)) throw new ConfigError(`-priceFeedAddr: not an address: ${JSON.stringify(address)}`);
  const maxAgeMs = parseDuration(flags.priceFeedMaxAge, "priceFeedMaxAge");
  const intervalMs = parseDuration(flags.priceFeedPollInterval, "priceFeedPollInterval");
  if (maxAgeMs <= 0 || intervalMs <= 0) throw new ConfigError("-priceFeedMaxAge and -priceFeedPollInterval must be > 0");
  return needed ? { address: address === "" ? "" : getAddress(address), maxAgeMs, intervalMs } : undefined;
}

function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`-${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function chainConfig(flags: RawFlags): ChainConfig {
  if (flags.network === "offchain") throw new ConfigError("-network offchain: a remote signer needs a chain");
  if (flags.ethUrl === "") {
    if (flags.network !== "") throw new ConfigError(`-network ${flags.network} needs -ethUrl`);
    const orchestrators = parseCount(flags.devOrchestrators, "devOrchestrators");
    if (orchestrators > 10) throw new ConfigError(`-devOrchestrators must be at most 10, got ${orchestrators}`);
    return { kind: "dev", orchestrators };
  }
  if (flags.devOrchestrators !== "1") throw new ConfigError("-devOrchestrators is for the development chain: it cannot be used with -ethUrl");
  try {
    parseEthEndpoint(flags.ethUrl);
  } catch (err) {
    // The value is not quoted: it may hold credentials.
    throw new ConfigError(`-ethUrl: ${(err as Error).message}`);
  }
  let controller = flags.ethController;
  if (controller === "") {
    const known = (networkControllers as Record<string, string>)[flags.network];
    if (!known) throw new ConfigError(`-ethController is required for -network ${JSON.stringify(flags.network)}`);
    controller = known;
  }
  try {
    return { kind: "rpc", ethUrl: flags.ethUrl, controllerAddress: getAddress(controller) };
  } catch {
    throw new ConfigError(`-ethController: not an Ethereum address: ${JSON.stringify(controller)}`);
  }
}

/**
 * The key, as go-livepeer finds it: -ethKeystorePath, else <dataDir>/keystore (dataDir defaults to
 * ~/.lpData/<network>). A real key never runs against the throwaway development chain.
 */
function keySource(flags: RawFlags, dev: boolean, env: NodeJS.ProcessEnv): KeySource {
  const dataDir = flags.dataDir || flags.datadir;
  const raw = env.LPSIGNER_UNSAFE_DEV_PRIVATE_KEY;
  const remote = remoteKeySource(flags, env);
  if (remote) {
    if (dev) throw new ConfigError(`-${REMOTE_FLAG[remote.kind]} names a key but there is no -ethUrl: lpsigner would run that key against a throwaway development chain. Pass -ethUrl (with -network or -ethController)`);
    if (flags.ethKeystorePath !== "") throw new ConfigError(`-ethKeystorePath and -${REMOTE_FLAG[remote.kind]} name two keys: give one`);
    return remote;
  }
  if (dev) {
    const named = flags.ethKeystorePath !== "" ? "-ethKeystorePath" : raw ? "LPSIGNER_UNSAFE_DEV_PRIVATE_KEY" : dataDir !== "" ? "-dataDir" : "";
    if (named !== "") {
      throw new ConfigError(
        `${named} names a key but there is no -ethUrl: lpsigner would run that key against a throwaway development chain. ` +
          `Pass -ethUrl (with -network or -ethController), or drop ${named} to use the development chain with a throwaway key`,
      );
    }
    return { kind: "throwaway" };
  }
  let path = flags.ethKeystorePath;
  if (path === "") {
    if (raw) return { kind: "raw", hex: raw };
    path = join(dataDir !== "" ? dataDir : join(env.HOME || homedir(), ".lpData", flags.network), "keystore");
    if (!existsSync(path)) {
      throw new ConfigError(`-ethKeystorePath is required with -ethUrl: no keystore at ${path} (set -ethKeystorePath or -dataDir)`);
    }
  }
  return { kind: "keystore", path, address: flags.ethAcctAddr, password: resolvePassword(flags.ethPassword) };
}

const REMOTE_FLAG = { pkcs11: "pkcs11Module", kms: "awsKmsKeyId", jsonrpc: "ethSignerUrl" } as const;

type RemoteKeySource = Extract<KeySource, { kind: keyof typeof REMOTE_FLAG }>;

/** A key behind a PKCS#11 module, AWS KMS or a JSON-RPC signer, when one is configured. */
function remoteKeySource(flags: RawFlags, env: NodeJS.ProcessEnv): RemoteKeySource | undefined {
  const named = (Object.entries(REMOTE_FLAG) as [keyof typeof REMOTE_FLAG, RawFlagName][]).filter(([, flag]) => flags[flag] !== "");
  if (named.length === 0) {
    for (const flag of ["pkcs11TokenLabel", "pkcs11KeyLabel", "pkcs11KeyId", "pkcs11PinFile", "awsKmsRegion", "awsKmsEndpoint", "ethSignerTlsCert", "ethSignerTlsKey", "ethSignerCa"] as const) {
      if (flags[flag] !== "") throw new ConfigError(`-${flag} needs -${flag.startsWith("pkcs11") ? "pkcs11Module" : flag.startsWith("aws") ? "awsKmsKeyId" : "ethSignerUrl"}`);
    }
    return undefined;
  }
  if (named.length > 1) throw new ConfigError(`${named.map(([, f]) => `-${f}`).join(" and ")} name two key backends: give one`);
  const address = flags.ethAcctAddr === "" ? "" : checkedAddress(flags.ethAcctAddr, "ethAcctAddr");
  const timeoutMs = parseDuration(flags.keyTimeout, "keyTimeout");
  if (timeoutMs <= 0) throw new ConfigError("-keyTimeout must be positive");
  const kind = named[0]![0];
  if (kind === "pkcs11") {
    if (flags.pkcs11TokenLabel === "") throw new ConfigError("-pkcs11Module needs -pkcs11TokenLabel");
    if ((flags.pkcs11KeyLabel === "") === (flags.pkcs11KeyId === "")) throw new ConfigError("-pkcs11Module needs one of -pkcs11KeyLabel and -pkcs11KeyId");
    if (flags.pkcs11KeyId !== "" && !/^(0x)?([0-9a-fA-F]{2})+$/.test(flags.pkcs11KeyId)) throw new ConfigError("-pkcs11KeyId must be hex");
    const pin = flags.pkcs11PinFile !== "" ? readSecretFile(flags.pkcs11PinFile, "pkcs11PinFile") : env.LP_PKCS11PIN;
    if (pin === undefined || pin === "") throw new ConfigError("-pkcs11Module needs the token's PIN: -pkcs11PinFile, or LP_PKCS11PIN in the environment");
    return { kind, module: flags.pkcs11Module, tokenLabel: flags.pkcs11TokenLabel, keyLabel: flags.pkcs11KeyLabel, keyId: flags.pkcs11KeyId.replace(/^0x/, ""), pin, address, timeoutMs };
  }
  if (kind === "kms") {
    if (flags.awsKmsEndpoint !== "") parseHttpUrl(flags.awsKmsEndpoint, "awsKmsEndpoint");
    return { kind, keyId: flags.awsKmsKeyId, region: flags.awsKmsRegion, endpoint: flags.awsKmsEndpoint, address, timeoutMs };
  }
  try {
    parseEthEndpoint(flags.ethSignerUrl);
  } catch (err) {
    // The value is not quoted: it may hold credentials.
    throw new ConfigError(`-ethSignerUrl: ${(err as Error).message}`);
  }
  if ((flags.ethSignerTlsCert === "") !== (flags.ethSignerTlsKey === "")) throw new ConfigError("-ethSignerTlsCert and -ethSignerTlsKey go together");
  for (const flag of ["ethSignerTlsCert", "ethSignerTlsKey", "ethSignerCa"] as const) if (flags[flag] !== "") readPem(flags[flag], flag);
  return { kind, url: flags.ethSignerUrl, tlsCert: flags.ethSignerTlsCert, tlsKey: flags.ethSignerTlsKey, ca: flags.ethSignerCa, address, timeoutMs };
}

/** A secret file's content, without its final newline; the error names the flag, never the content. */
function readSecretFile(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw new ConfigError(`-${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

function checkedAddress(text: string, flag: string): string {
  try {
    return getAddress(text);
  } catch {
    throw new ConfigError(`-${flag}: not an Ethereum address: ${JSON.stringify(text)}`);
  }
}

/** Validates and converts every flag; throws a ConfigError naming the flag. */
export function loadConfig(flags: RawFlags, env: NodeJS.ProcessEnv = process.env): Config {
  if (!LOG_LEVELS.includes(flags.logLevel)) throw new ConfigError(`-logLevel must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(flags.logLevel)}`);
  const warnings = unsupportedFlagWarnings(flags);
  const httpAddr = defaultAddr(flags.httpAddr, "127.0.0.1", "8935");
  const listen = parseListenAddr(httpAddr, "httpAddr");
  const webhookUrl = flags.remoteSignerWebhookUrl.trim();
  if (webhookUrl !== "") parseHttpUrl(webhookUrl, "remoteSignerWebhookUrl");
  if (webhookUrl === "") {
    if (!isLoopbackHost(listen.host) && !flagBool(flags.remoteSignerAllowNoAuth)) {
      throw new ConfigError(
        `-httpAddr ${flags.httpAddr} is not loopback and no -remoteSignerWebhookUrl is set: anyone reaching it could spend ` +
          `this signer's deposit. Set a webhook, bind to loopback, or pass -remoteSignerAllowNoAuth if access is restricted elsewhere`,
      );
    }
    warnings.push(NO_WEBHOOK_WARNING);
  }
  const depositMultiplier = parseWei(flags.depositMultiplier, "depositMultiplier");
  if (depositMultiplier === 0n) throw new ConfigError("-depositMultiplier must be > 0");
  const limits: SenderLimits = {
    maxTicketEV: parseNonNegativeRat(flags.maxTicketEV, "maxTicketEV"),
    maxTotalEV: parseNonNegativeRat(flags.maxTotalEV, "maxTotalEV"),
    depositMultiplier,
  };
  const prices = createPriceLimits(flags);
  const priceFeed = priceFeedConfig(flags, ceilingCurrencies(prices).size > 0);
  const chainRefreshIntervalMs = parseDuration(flags.chainRefreshInterval, "chainRefreshInterval");
  const chainMaxStalenessMs = parseDuration(flags.chainMaxStaleness, "chainMaxStaleness");
  const webhookHeaders = parseHeaderList(flags.remoteSignerWebhookHeaders, "remoteSignerWebhookHeaders");
  if ((flags.tlsCert === "") !== (flags.tlsKey === "")) throw new ConfigError("-tlsCert and -tlsKey go together");
  const tls = flags.tlsCert !== "" ? { cert: readPem(flags.tlsCert, "tlsCert"), key: readPem(flags.tlsKey, "tlsKey") } : undefined;
  const corsOrigins = parseCorsOrigins(flags.corsOrigins, "corsOrigins");
  const allowedHosts = parseHostList(flags.allowedHosts, "allowedHosts");
  const admission = {
    maxInFlightPayments: parsePositiveCount(flags.maxInFlightPayments, "maxInFlightPayments"),
    maxStreams: parsePositiveCount(flags.maxWatchStreams, "maxWatchStreams"),
  };
  const discovery: DiscoveryConfig | undefined = flagBool(flags.remoteDiscovery)
    ? {
        webhookUrl: flags.orchWebhookUrl,
        orchAddr: flags.orchAddr,
        intervalMs: parseDuration(flags.liveAICapReportInterval, "liveAICapReportInterval"),
        // Unset: discovery's own bound (the reference's 3 s), not the 500ms go-livepeer gives job selection.
        timeoutMs: flags.discoveryTimeout === "" ? DEFAULT_POLL_TIMEOUT_MS : parseDuration(flags.discoveryTimeout, "discoveryTimeout"),
        extraNodes: parseCount(flags.extraNodes, "extraNodes"),
        blocklist: parseAddressList(flags.orchBlocklist, "orchBlocklist"),
      }
    : undefined;
  const chain = chainConfig(flags);
  const workers = flags.workers.trim() === "" ? availableParallelism() : parseCount(flags.workers, "workers");
  if (workers < 1 || workers > MAX_WORKERS) throw new ConfigError(`-workers must be between 1 and ${MAX_WORKERS}, got ${workers}`);
  const key = keySource(flags, chain.kind === "dev", env);
  const kafka = parseKafkaConfig(flags, env);
  const events = eventsConfig(flags, env, kafka !== undefined, warnings);
  if (kafka && !events) throw new ConfigError("-kafkaBootstrapServers delivers the outbox's events: it needs -events");
  const webhookBody = flags.remoteSignerWebhookBody.trim();
  if (webhookBody !== "default" && webhookBody !== "extended") {
    throw new ConfigError(`-remoteSignerWebhookBody must be default or extended, got ${JSON.stringify(flags.remoteSignerWebhookBody)}`);
  }
  return {
    network: flags.network,
    chain,
    key,
    listen,
    tls,
    limits,
    prices,
    priceFeed,
    webhook: webhookUrl === "" ? undefined : { url: webhookUrl, headers: webhookHeaders, ...(webhookBody === "extended" && { body: "extended" as const }) },
    corsOrigins,
    allowedHosts,
    admission,
    chainRefreshIntervalMs,
    chainMaxStalenessMs,
    discovery,
    byoc: { enabled: flagBool(flags.byoc), perCapPricing: flagBool(flags.byoc) && flagBool(flags.byocPerCapPricing) },
    logLevel: flags.logLevel,
    kafka,
    events,
    workers,
    warnings,
  };
}
