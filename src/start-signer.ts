/**
 * Wiring only: a Config (or raw flags, loaded here) → key, chain, payments, discovery, server →
 * listening, in one process; cluster/ composes the same parts for -workers N. Checks live in
 * config/; GetSignerStatus in service/signer-status.ts; discovery's transport adapters in discovery/service-adapters.ts. The dev chain is imported only when it is
 * used, so a real deployment never loads EDR.
 *
 * Over 250 lines: it is the one place where every part is wired, and splitting it would scatter
 * the order of start-up (and of shutdown) across files.
 */
import { randomBytes } from "node:crypto";
import { pino, type Logger } from "pino";
import { createChainView } from "./chain/chain-client.js";
import { ChainUnavailableError, type ChainView } from "./chain/chain-view.js";
import { ConfigError, loadConfig, type Config, type DiscoveryConfig, type KeySource, type RawFlags } from "./config.js";
import { createEthSigner } from "./crypto/eth-sign.js";
import { isRemoteSigner, orchestratorInfoSignature, watchKeyHealth, type AnySigner } from "./crypto/remote-signer.js";
import { isRemoteKey, openRemoteSigner } from "./keys/open-signer.js";
import type { DevChain } from "./dev-chain/dev-chain.js";
import type { DevOrchestrator } from "./dev-orchestrator/dev-orchestrator.js";
import { createDiscovery, selectSource, type Discovery } from "./discovery/index.js";
import { legacyDiscover, typedDiscovery, type DiscoveryView } from "./discovery/service-adapters.js";
import { systemClock } from "./clock.js";
import { loadKeystoreKey, parseRawKey } from "./keys/load-key.js";
import { createActivityRecorder, type ActivityRecorder } from "./activity/recorder.js";
import { createAuthWebhook } from "./payment/auth-webhook.js";
import type { PaymentDeps } from "./payment/generate-payment.js";
import { IssuedStates } from "./state/issued-states.js";
import { fundingProblem } from "./pm/sender-validation.js";
import { createSignerMetrics, createSignerServer, type SignerMetrics, type SignerServer } from "./server/create-server.js";
import { createSignerStatus } from "./service/signer-status.js";
import { createPriceFeedClient } from "./chain/price-feed-client.js";
import { createPriceFeedReader, PriceFeedMismatchError, type PriceFeedView } from "./pricing/price-feed.js";
import { ceilingCurrencies, withRate, type PriceLimits } from "./pricing/price-limits.js";
import { DEFAULT_PRICE_FEED_ADDR } from "./config/load-config.js";
import { checkPortFree, StartupError, toListenError } from "./startup.js";
import type { Outbox } from "./events/outbox.js";
import { firstProblem, outboxHealth, startEventOutbox } from "./events/runtime.js";

export const VERSION = "0.1.0";

export interface RunningSigner {
  address: string;
  url: string;
  host: string;
  port: number;
  devChain: DevChain | undefined;
  /** On the dev chain: the development orchestrators (-devOrchestrators), registered there and found by discovery. */
  devOrchestrators: DevOrchestrator[];
  chain: ChainView;
  signer: AnySigner;
  close(): Promise<void>;
}

/**
 * The signer's private key. The -workers primary loads it once and hands the bytes to its workers
 * over their IPC channels (a private socketpair), so a keystore is decrypted once and a throwaway
 * dev key is the same in every worker.
 */
export async function loadKey(key: LocalKeySource, logger: Logger): Promise<Uint8Array> {
  switch (key.kind) {
    case "keystore":
      return loadKeystoreKey(key);
    case "raw":
      logger.warn("using LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: a raw key from the environment, for development only");
      return parseRawKey(key.hex);
    case "throwaway":
      logger.warn("no key configured: generated a throwaway key for the development chain");
      return randomBytes(32);
  }
}

/** A key this process holds: a keystore, the development raw key, or the dev chain's throwaway key. */
export type LocalKeySource = Exclude<KeySource, { kind: "pkcs11" | "kms" | "jsonrpc" }>;

/** The configured key's signer: loaded into this process, or opened on its backend (and self-tested). */
export async function openSigner(key: KeySource, logger: Logger): Promise<AnySigner> {
  if (!isRemoteKey(key)) return createEthSigner(await loadKey(key, logger));
  const signer = await openRemoteSigner(key);
  logger.info({ keyBackend: signer.keyBackend, address: signer.addressHex }, "key backend opened: the key stays there");
  return signer;
}

/** The development chain with the signer funded and `orchestrators` development orchestrators registered on it. */
async function startDevelopmentChain(signerAddress: string, orchestrators: number) {
  let startDevChain: typeof import("./dev-chain/dev-chain.js").startDevChain;
  try {
    ({ startDevChain } = await import("./dev-chain/dev-chain.js"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw err;
    throw new StartupError(
      "the development chain needs the optional dependency @nomicfoundation/edr, which is not installed " +
        "(run npm install on a supported platform), or pass -ethUrl to use a real chain",
    );
  }
  const { startDevOrchestrators, DEV_DISCOVERY } = await import("./dev-orchestrator/dev-orchestrator.js");
  const devChain = await startDevChain({ port: 0 });
  try {
    await devChain.fundSender({ address: signerAddress });
    const devOrchestrators = await startDevOrchestrators({ chain: devChain, count: orchestrators });
    return { devChain, devOrchestrators, discovery: orchestrators > 0 ? DEV_DISCOVERY : undefined };
  } catch (err) {
    await devChain.close();
    throw err;
  }
}

function isConfig(input: Config | RawFlags): input is Config {
  return typeof (input as Config).listen === "object";
}

/** The chain side of a signer, one per signer whatever the worker count. */
export interface ChainParts {
  chain: ChainView;
  devChain: DevChain | undefined;
  devOrchestrators: DevOrchestrator[];
  /** config.discovery, or on the dev chain the discovery of its development orchestrator. */
  discovery: DiscoveryConfig | undefined;
  /** The ETH rate reader, when a ceiling is in USD (config.priceFeed). */
  priceFeed: PriceFeedView | undefined;
  close(): Promise<void>;
}

/** The configured ceilings converting through the price feed, when there is one. */
export function pricedLimits(prices: PriceLimits, priceFeed: PriceFeedView | undefined): PriceLimits {
  return priceFeed ? withRate(prices, priceFeed) : prices;
}

/** The dev chain and orchestrator (when there is no -ethUrl) and the cached chain view. */
export async function openChain(config: Config, signer: Pick<AnySigner, "addressHex">, logger: Logger): Promise<ChainParts> {
  const { host, port } = config.listen;
  const dev = config.chain.kind === "dev";
  // Before the dev chain starts: a used port fails in milliseconds, not after a chain deployment.
  if (dev) await checkPortFree(host, port);
  let devChain: DevChain | undefined;
  let devOrchestrators: DevOrchestrator[] = [];
  try {
    let discovery = config.discovery;
    if (config.chain.kind === "dev") {
      const development = await startDevelopmentChain(signer.addressHex, config.chain.orchestrators);
      ({ devChain, devOrchestrators } = development);
      discovery ??= development.discovery; // on by default, finding the dev orchestrator on chain
    }
    const rpc = config.chain.kind === "rpc" ? config.chain : { ethUrl: devChain!.url, controllerAddress: devChain!.controllerAddress };
    const chain = await createChainView({
      ...rpc,
      signerAddress: signer.addressHex,
      refreshIntervalMs: config.chainRefreshIntervalMs,
      maxStalenessMs: config.chainMaxStalenessMs,
      devChain: dev,
      logger: logger.child({ component: "chain" }),
    }).catch((err: unknown) => {
      throw err instanceof ChainUnavailableError ? new StartupError(err.message) : err;
    });
    let priceFeed: PriceFeedView | undefined;
    if (config.priceFeed) {
      // With no -priceFeedAddr: the dev chain's own feed, else go-livepeer's default (Arbitrum One ETH / USD).
      const address = config.priceFeed.address || (devChain ? devChain.priceFeed.address : DEFAULT_PRICE_FEED_ADDR);
      priceFeed = await createPriceFeedReader({
        port: createPriceFeedClient({ ethUrl: rpc.ethUrl, address }),
        address,
        currencies: ceilingCurrencies(config.prices),
        maxAgeMs: config.priceFeed.maxAgeMs,
        intervalMs: config.priceFeed.intervalMs,
        logger: logger.child({ component: "price-feed" }),
      }).catch(async (err: unknown) => {
        await chain.close();
        throw err instanceof PriceFeedMismatchError ? new ConfigError(`-priceFeedAddr ${address}: ${err.message}`) : err;
      });
      const problem = priceFeed.problem();
      if (problem) logger.warn(`WARNING: ${problem}: payments under a USD ceiling are refused until it is read`);
    }
    const snapshot = chain.status().snapshot;
    const unfunded = snapshot && fundingProblem(snapshot);
    if (unfunded) {
      logger.warn(`WARNING: ${signer.addressHex} cannot back tickets (${unfunded}): payments fail until its TicketBroker deposit and reserve are funded`);
    }
    return {
      chain,
      devChain,
      devOrchestrators,
      discovery,
      priceFeed,
      async close() {
        priceFeed?.close();
        await chain.close();
        for (const o of devOrchestrators) await o.close();
        await devChain?.close();
      },
    };
  } catch (err) {
    for (const o of devOrchestrators) await o.close();
    await devChain?.close();
    throw err;
  }
}

/** What serveSigner needs: in a -workers worker the chain view and discovery are the primary's, relayed. */
export interface ServeParts {
  config: Config;
  signer: AnySigner;
  chain: ChainView;
  /** The ETH rate for USD ceilings (a worker's is the primary's, relayed). */
  priceFeed?: PriceFeedView | undefined;
  discovery: DiscoveryView | undefined;
  logger: Logger;
  metrics: SignerMetrics;
  activity: ActivityRecorder;
  /** /metrics text; default: this process's registry. */
  metricsText?: () => Promise<string>;
  /** This process's handle on the event outbox (config.events). */
  outbox?: Outbox | undefined;
}

/** Payments and the server on config.listen: the part of a signer every worker runs. */
export async function serveSigner(p: ServeParts): Promise<{ server: SignerServer; host: string; port: number; url: string }> {
  const { config, signer, chain, discovery, activity, priceFeed } = p;
  const prices = pricedLimits(config.prices, priceFeed);
  // Readiness: a failing key backend, or (with delivery) an outbox near its quota.
  const keyHealth = firstProblem(
    isRemoteSigner(signer) ? watchKeyHealth(signer) : undefined,
    p.outbox && config.events ? outboxHealth(p.outbox, config.events) : undefined,
  );
  const { host, port } = config.listen;
  const payments: PaymentDeps = {
    signer,
    chain,
    limits: config.limits,
    prices,
    clock: systemClock,
    webhook: config.webhook && createAuthWebhook(config.webhook),
    issuedStates: new IssuedStates(),
    byoc: config.byoc,
    onTicketsSigned: (batch) => activity.ticketsSigned(batch),
    ...(p.outbox && { events: { outbox: p.outbox, gateway: config.events?.gateway ?? "" } }),
  };
  const server = createSignerServer({
    service: {
      payments,
      orchInfoSignature: await orchestratorInfoSignature(signer),
      status: createSignerStatus({
        signer,
        keyBackend: isRemoteSigner(signer) ? signer.keyBackend : "keystore",
        chain,
        limits: config.limits,
        prices,
        priceFeed,
        webhookConfigured: payments.webhook !== undefined,
        version: VERSION,
      }),
      discovery: discovery && typedDiscovery(discovery),
      activity,
    },
    legacy: { discover: discovery && legacyDiscover(discovery) },
    logger: p.logger,
    metrics: p.metrics,
    ...(p.metricsText ? { metricsText: p.metricsText } : {}),
    ...(keyHealth ? { keyHealth } : {}),
    ...(priceFeed ? { priceFeed: { feed: priceFeed, prices } } : {}),
    corsOrigins: config.corsOrigins,
    allowedHosts: config.allowedHosts,
    admission: config.admission,
    tls: config.tls,
  });
  const bound = await server.listen(host, port).catch((err: unknown) => {
    throw toListenError(err, host, port);
  });
  const shownHost = bound.host === "" ? "127.0.0.1" : bound.host.includes(":") ? `[${bound.host}]` : bound.host;
  return { server, host: bound.host, port: bound.port, url: `${config.tls ? "https" : "http"}://${shownHost}:${bound.port}` };
}

/** config → key, chain, server → listening, in this process. Fails fast: ConfigError (the operator's mistake) or StartupError. */
export async function startSigner(input: Config | RawFlags, logger?: Logger): Promise<RunningSigner> {
  const config = isConfig(input) ? input : loadConfig(input);
  logger ??= pino({ level: config.logLevel });
  for (const warning of config.warnings) logger.warn(warning);
  const signer = await openSigner(config.key, logger);
  let chainParts: ChainParts;
  try {
    chainParts = await openChain(config, signer, logger);
  } catch (err) {
    if (isRemoteSigner(signer)) await signer.close().catch(() => {});
    throw err;
  }
  const { chain, devChain, devOrchestrators } = chainParts;
  let discovery: Discovery | undefined;
  let outbox: Outbox | undefined;
  let duties: { stop(): Promise<void> } | undefined;
  try {
    const metrics = createSignerMetrics();
    const activity = createActivityRecorder(metrics);
    ({ outbox, duties } = startEventOutbox(config.events, config.kafka, metrics.registry, logger) ?? {});
    discovery =
      chainParts.discovery &&
      (await startDiscovery({ ...config, discovery: chainParts.discovery, prices: pricedLimits(config.prices, chainParts.priceFeed) }, chain, signer, metrics, logger));
    const served = await serveSigner({ config, signer, chain, priceFeed: chainParts.priceFeed, discovery, logger, metrics, activity, outbox });
    const running = discovery;
    return {
      address: signer.addressHex,
      url: served.url,
      host: served.host,
      port: served.port,
      devChain,
      devOrchestrators,
      chain,
      signer,
      async close() {
        running?.close();
        activity.close(); // ends dashboard streams, so they do not wait out the drain
        await served.server.close();
        // After the server: every reply sent had its event on disk; delivery stops last.
        await duties?.stop();
        outbox?.close();
        await chainParts.close();
        if (isRemoteSigner(signer)) await signer.close();
      },
    };
  } catch (err) {
    discovery?.close();
    await duties?.stop();
    outbox?.close();
    await chainParts.close();
    if (isRemoteSigner(signer)) await signer.close().catch(() => {});
    throw err;
  }
}

/** -remoteDiscovery: the reference's sources in its precedence (webhook, -orchAddr, chain). */
export async function startDiscovery(config: Config, chain: ChainView, signer: AnySigner, metrics: SignerMetrics, logger: Logger): Promise<Discovery> {
  const opts = config.discovery!;
  const source = selectSource({ webhookUrl: opts.webhookUrl, orchAddr: opts.orchAddr, chain });
  if (!source) throw new ConfigError("-remoteDiscovery is set but no orchestrator source could be configured");
  const discovery = createDiscovery({
    source,
    // A remote key signs the GetOrchestrator request once, here; a local one when discovery asks.
    signer: isRemoteSigner(signer) ? { address: signer.address, orchInfoSignature: await orchestratorInfoSignature(signer) } : signer,
    prices: config.prices,
    intervalMs: opts.intervalMs,
    timeoutMs: opts.timeoutMs,
    extraNodes: opts.extraNodes,
    blocklist: opts.blocklist,
    logger: logger.child({ component: "discovery" }),
    metrics: {
      pollLatency: (seconds, ok) => metrics.pollLatency.observe({ ok: String(ok) }, seconds),
      known: (n) => metrics.orchestrators.set({ state: "known" }, n),
      eligible: (n) => metrics.orchestrators.set({ state: "eligible" }, n),
    },
  });
  discovery.start();
  return discovery;
}
