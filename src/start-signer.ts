import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { pino, type Logger } from "pino";
import { createChainView, networkControllers } from "./chain/chain-client.js";
import type { ChainView } from "./chain/chain-view.js";
import { startDevChain, type DevChain } from "./dev-chain/dev-chain.js";
import {
  ConfigError,
  flagBool,
  isLoopbackHost,
  parseDuration,
  parseHeaderList,
  parseListenAddr,
  parseWei,
  type RawFlags,
} from "./config.js";
import { createEthSigner, signOrchestratorInfo, type EthSigner } from "./crypto/eth-sign.js";
import { loadKeystoreKey, parseRawKey, resolvePassword } from "./keys/load-key.js";
import { createActivityRecorder } from "./activity/recorder.js";
import { createAuthWebhook } from "./payment/auth-webhook.js";
import type { PaymentDeps } from "./payment/generate-payment.js";
import { Rat } from "./math/rat.js";
import type { SenderLimits } from "./pm/sender-validation.js";
import { createPriceLimits } from "./pricing/price-limits.js";
import { createSignerMetrics, createSignerServer, type SignerMetrics } from "./server/create-server.js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  createDiscovery,
  selectSource,
  toDiscoveredOrchestrator,
  toLegacyDiscoveryJson,
  type Discovery,
} from "./discovery/index.js";
import { systemClock } from "./clock.js";

export const VERSION = "0.1.0";

export interface RunningSigner {
  address: string;
  url: string;
  host: string;
  port: number;
  devChain: DevChain | undefined;
  chain: ChainView;
  signer: EthSigner;
  close(): Promise<void>;
}

async function loadSigner(flags: RawFlags, dev: boolean, logger: Logger): Promise<EthSigner> {
  if (flags.ethKeystorePath !== "") {
    const key = await loadKeystoreKey({
      path: flags.ethKeystorePath,
      address: flags.ethAcctAddr,
      password: resolvePassword(flags.ethPassword),
    });
    return createEthSigner(key);
  }
  const raw = process.env.LPSIGNER_UNSAFE_DEV_PRIVATE_KEY;
  if (raw) {
    logger.warn("using LPSIGNER_UNSAFE_DEV_PRIVATE_KEY: a raw key from the environment, for development only");
    return createEthSigner(parseRawKey(raw));
  }
  if (dev) {
    logger.warn("no key configured: generated a throwaway key for the development chain");
    return createEthSigner(randomBytes(32));
  }
  throw new ConfigError("-ethKeystorePath is required with -ethUrl (or set LPSIGNER_UNSAFE_DEV_PRIVATE_KEY for development)");
}

/** flags → config → chain, key, server → listening. Fails fast with a ConfigError naming the flag. */
export async function startSigner(flags: RawFlags, logger: Logger = pino({ level: flags.logLevel })): Promise<RunningSigner> {
  if (flags.network === "offchain") throw new ConfigError("-network offchain: a remote signer needs a chain");
  const listen = parseListenAddr(flags.httpAddr, "httpAddr");
  const webhookUrl = flags.remoteSignerWebhookUrl.trim();
  if (webhookUrl !== "" && !/^https?:\/\//.test(webhookUrl)) {
    throw new ConfigError(`-remoteSignerWebhookUrl must be an http(s) URL, got ${JSON.stringify(webhookUrl)}`);
  }
  if (!isLoopbackHost(listen.host) && webhookUrl === "" && !flagBool(flags.remoteSignerAllowNoAuth)) {
    throw new ConfigError(
      `-httpAddr ${flags.httpAddr} is not loopback and no -remoteSignerWebhookUrl is set: anyone reaching it could spend ` +
        `this signer's deposit. Set a webhook, bind to loopback, or pass -remoteSignerAllowNoAuth if access is restricted elsewhere`,
    );
  }
  const depositMultiplier = parseWei(flags.depositMultiplier, "depositMultiplier");
  if (depositMultiplier === 0n) throw new ConfigError("-depositMultiplier must be > 0");
  const limits: SenderLimits = {
    maxTicketEV: new Rat(parseWei(flags.maxTicketEV, "maxTicketEV")),
    maxTotalEV: new Rat(parseWei(flags.maxTotalEV, "maxTotalEV")),
    depositMultiplier,
  };
  const prices = createPriceLimits(flags);
  const refreshIntervalMs = parseDuration(flags.chainRefreshInterval, "chainRefreshInterval");
  const maxStalenessMs = parseDuration(flags.chainMaxStaleness, "chainMaxStaleness");
  const webhookHeaders = parseHeaderList(flags.remoteSignerWebhookHeaders, "remoteSignerWebhookHeaders");
  const tls =
    flags.tlsCert !== "" || flags.tlsKey !== ""
      ? { cert: readFileSync(flags.tlsCert, "utf8"), key: readFileSync(flags.tlsKey, "utf8") }
      : undefined;

  const dev = flags.ethUrl === "";
  if (dev && flags.network !== "") throw new ConfigError(`-network ${flags.network} needs -ethUrl`);
  const signer = await loadSigner(flags, dev, logger);

  let devChain: DevChain | undefined;
  let ethUrl = flags.ethUrl;
  let controllerAddress = flags.ethController;
  if (dev) {
    devChain = await startDevChain({ port: 0 });
    await devChain.fundSender({ address: signer.addressHex });
    ethUrl = devChain.url;
    controllerAddress = devChain.controllerAddress;
  } else if (controllerAddress === "") {
    const known = (networkControllers as Record<string, string>)[flags.network];
    if (!known) throw new ConfigError(`-ethController is required for -network ${JSON.stringify(flags.network)}`);
    controllerAddress = known;
  }

  let chain: ChainView | undefined;
  let discovery: Discovery | undefined;
  try {
    chain = await createChainView({
      ethUrl,
      controllerAddress,
      signerAddress: signer.addressHex,
      refreshIntervalMs,
      maxStalenessMs,
      devChain: dev,
      logger: logger.child({ component: "chain" }),
    });
    const metrics = createSignerMetrics();
    const activity = createActivityRecorder(metrics);
    const payments: PaymentDeps = {
      signer,
      chain,
      limits,
      prices,
      clock: systemClock,
      webhook: webhookUrl === "" ? undefined : createAuthWebhook({ url: webhookUrl, headers: webhookHeaders }),
      onTicketsSigned: (batch) => activity.ticketsSigned(batch),
    };
    const chainView = chain;
    discovery = flagBool(flags.remoteDiscovery) ? startDiscovery(flags, chain, signer, prices, metrics, logger) : undefined;
    const server = createSignerServer({
      service: {
        payments,
        orchInfoSignature: signOrchestratorInfo(signer),
        status: () => {
          const st = chainView.status();
          const snap = st.snapshot;
          return {
            address: signer.address,
            addressHex: signer.addressHex,
            version: VERSION,
            chain: {
              chainId: snap?.chainId ?? 0n,
              round: snap?.lastInitializedRound ?? 0n,
              roundBlockHash: snap?.lastInitializedBlockHash,
              l1Block: snap?.lastSeenL1Block ?? 0n,
              deposit: snap?.sender.deposit.toString() ?? "",
              reserve: snap?.sender.reserve.toString() ?? "",
              withdrawRound: snap?.sender.withdrawRound ?? 0n,
              ageMs: BigInt(Math.max(0, Math.round(st.ageMs))),
              stale: st.stale,
              ethUrl: st.ethUrl,
              devChain: st.devChain,
            },
            limits: {
              maxTicketEv: limits.maxTicketEV.toString(),
              maxTotalEv: limits.maxTotalEV.toString(),
              depositMultiplier: Number(limits.depositMultiplier),
              maxPricePerUnit: prices.maxPrice?.toString() ?? "",
              webhookConfigured: payments.webhook !== undefined,
            },
          };
        },
        discovery: discovery && typedDiscovery(discovery),
        activity,
      },
      legacy: { discover: discovery && legacyDiscover(discovery) },
      logger,
      metrics,
      corsOrigins: flags.corsOrigins.split(",").map((s) => s.trim()).filter(Boolean),
      tls,
    });
    const bound = await server.listen(listen.host, listen.port);
    const shownHost = bound.host === "" ? "127.0.0.1" : bound.host.includes(":") ? `[${bound.host}]` : bound.host;
    return {
      address: signer.addressHex,
      url: `${tls ? "https" : "http"}://${shownHost}:${bound.port}`,
      host: bound.host,
      port: bound.port,
      devChain,
      chain,
      signer,
      async close() {
        discovery?.close();
        await server.close();
        await chainView.close();
        await devChain?.close();
      },
    };
  } catch (err) {
    discovery?.close();
    await chain?.close();
    await devChain?.close();
    throw err;
  }
}

/** -remoteDiscovery: the reference's sources in its precedence (webhook, -orchAddr, chain). */
function startDiscovery(
  flags: RawFlags,
  chain: ChainView,
  signer: EthSigner,
  prices: ReturnType<typeof createPriceLimits>,
  metrics: SignerMetrics,
  logger: Logger,
): Discovery {
  const source = selectSource({ webhookUrl: flags.orchWebhookUrl, orchAddr: flags.orchAddr, chain });
  if (!source) throw new ConfigError("-remoteDiscovery is set but no orchestrator source could be configured");
  const discovery = createDiscovery({
    source,
    signer,
    prices,
    intervalMs: parseDuration(flags.liveAICapReportInterval, "liveAICapReportInterval"),
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

/** GET /discover-orchestrators: the reference's JSON array, 503 "cache empty" before the first snapshot. */
function legacyDiscover(discovery: Discovery) {
  return (caps: string[]) =>
    discovery.snapshot().orchestrators.length === 0
      ? ({ status: 503, message: "cache empty" } as const)
      : ({ status: 200, body: toLegacyDiscoveryJson(discovery.select(caps)) } as const);
}

function typedDiscovery(discovery: Discovery) {
  return {
    select(caps: string[]) {
      const snapshot = discovery.snapshot();
      if (snapshot.orchestrators.length === 0) return undefined;
      return {
        orchestrators: discovery.select(caps).map(toDiscoveredOrchestrator),
        snapshotTime: timestampFromMs(snapshot.builtAt),
      };
    },
    subscribe: (listener: () => void) => discovery.subscribe(() => listener()),
  };
}
