/**
 * The flag table and Go-style flag parsing, with go-livepeer's names and defaults where the
 * concept is the same. Go flag syntax: -name value, -name=value or --name; boolean flags take no
 * separate value. Each flag may also come from the environment as LP_<NAME> (upper case), as
 * go-livepeer's ff parser allows; the command line wins.
 */
import { ConfigError } from "./errors.js";

type FlagKind = "string" | "bool" | "duration";
interface FlagSpec {
  kind: FlagKind;
  default: string;
  help: string;
  /** go-livepeer flags for a subsystem lpsigner does not have: accepted, and a WARNING says they do nothing. */
  unsupported?: true;
}

const unsupported = (kind: FlagKind, what: string): FlagSpec => ({
  kind,
  default: kind === "bool" ? "false" : "",
  help: `Ignored, with a warning: lpsigner has no ${what}`,
  unsupported: true,
});

export const FLAGS = {
  network: { kind: "string", default: "", help: "Network: arbitrum-one-mainnet, mainnet, … (offchain is refused); empty with no -ethUrl starts the dev chain" },
  ethUrl: { kind: "string", default: "", help: "Ethereum JSON-RPC URL (http(s), may carry user:password); empty starts an embedded development chain" },
  ethController: { kind: "string", default: "", help: "Livepeer Controller address (default: the -network's)" },
  devOrchestrators: { kind: "string", default: "1", help: "Development orchestrators started with the dev chain (0 to 10; each at a higher price)" },
  ethKeystorePath: { kind: "string", default: "", help: "Keystore file or directory (go-ethereum format); default <dataDir>/keystore" },
  ethAcctAddr: { kind: "string", default: "", help: "Account to use from the keystore directory" },
  ethPassword: { kind: "string", default: "", help: "Keystore password, or a path to a file holding it (a path-like value must exist)" },
  pkcs11Module: { kind: "string", default: "", help: "PKCS#11 module (.so) holding the key (an HSM; SoftHSM2 for tests): the key never enters lpsigner's memory" },
  pkcs11TokenLabel: { kind: "string", default: "", help: "PKCS#11 token label, with -pkcs11Module" },
  pkcs11KeyLabel: { kind: "string", default: "", help: "PKCS#11 label of the secp256k1 key (or -pkcs11KeyId)" },
  pkcs11KeyId: { kind: "string", default: "", help: "PKCS#11 CKA_ID of the key, hex (or -pkcs11KeyLabel)" },
  pkcs11PinFile: { kind: "string", default: "", help: "File holding the token's user PIN (or the environment's LP_PKCS11PIN)" },
  awsKmsKeyId: { kind: "string", default: "", help: "AWS KMS key (id, ARN or alias) of key spec ECC_SECG_P256K1 that signs; credentials from the standard AWS chain" },
  awsKmsRegion: { kind: "string", default: "", help: "AWS region of -awsKmsKeyId (default: the AWS chain's)" },
  awsKmsEndpoint: { kind: "string", default: "", help: "AWS KMS endpoint URL override (a VPC endpoint, or an emulator)" },
  ethSignerUrl: { kind: "string", default: "", help: "Ethereum JSON-RPC signer holding the key (clef, Web3Signer); user:password in it is basic auth: give it as LP_ETHSIGNERURL" },
  ethSignerTlsCert: { kind: "string", default: "", help: "Client certificate (PEM file) for -ethSignerUrl, with -ethSignerTlsKey" },
  ethSignerTlsKey: { kind: "string", default: "", help: "Client certificate's key (PEM file) for -ethSignerUrl" },
  ethSignerCa: { kind: "string", default: "", help: "CA certificate (PEM file) that -ethSignerUrl's server certificate chains to" },
  keyTimeout: { kind: "duration", default: "5s", help: "How long one signature by a PKCS#11, KMS or JSON-RPC key may take before the call fails as unavailable" },
  dataDir: { kind: "string", default: "", help: "Data directory; its keystore/ is used when -ethKeystorePath is empty (default ~/.lpData/<network>)" },
  datadir: { kind: "string", default: "", help: "Deprecated spelling of -dataDir" },
  httpAddr: { kind: "string", default: "127.0.0.1:8935", help: "Address to serve the signer on (Connect, gRPC, gRPC-web and legacy HTTP); ':port' and a bare host default to 127.0.0.1 and 8935" },
  cliAddr: { kind: "string", default: "127.0.0.1:3935", help: "Accepted for compatibility; lpsigner serves everything on -httpAddr" },
  maxTicketEV: { kind: "string", default: "3000000000000", help: "Maximum EV of one ticket, wei (a rational: 3000000000000, 1.5e12, 3/2)" },
  maxTotalEV: { kind: "string", default: "20000000000000", help: "Maximum EV of one batch of tickets, wei (a rational)" },
  depositMultiplier: { kind: "string", default: "1", help: "faceValue may be at most deposit / depositMultiplier" },
  maxPricePerUnit: { kind: "string", default: "0", help: "Maximum orchestrator price per -pixelsPerUnit units: wei (1200, 1200wei), ETH, or a currency converted with -priceFeedAddr (0.01USD); 0 = no limit" },
  pixelsPerUnit: { kind: "string", default: "1", help: "Units that -maxPricePerUnit is for" },
  maxPricePerCapability: { kind: "string", default: "", help: "JSON or path: {\"capabilities_prices\":[{pipeline, model_id, price_per_unit, pixels_per_unit, currency}]} (currency: wei by default, ETH, or USD through -priceFeedAddr)" },
  priceFeedAddr: { kind: "string", default: "", help: "AggregatorV3 (Chainlink) ETH price feed read through -ethUrl for USD ceilings (default: go-livepeer's Arbitrum One ETH / USD feed; on the dev chain its own feed)" },
  priceFeedMaxAge: { kind: "duration", default: "25h", help: "Refuse payments under a USD ceiling (and /readyz is not ready) when the feed's rate is older than this (Chainlink's ETH / USD heartbeat is 24h)" },
  priceFeedPollInterval: { kind: "duration", default: "1m", help: "How often the price feed is read" },
  remoteSigner: { kind: "bool", default: "true", help: "Accepted for compatibility; lpsigner is always a remote signer" },
  remoteSignerWebhookUrl: { kind: "string", default: "", help: "Auth webhook called by GenerateLivePayment" },
  remoteSignerWebhookHeaders: { kind: "string", default: "", help: "Headers for the auth webhook: 'k:v,k2:v2'" },
  remoteSignerAllowNoAuth: { kind: "bool", default: "false", help: "Allow a non-loopback -httpAddr without a webhook (UNSAFE)" },
  byoc: { kind: "bool", default: "true", help: "Serve BYOC (go-livepeer branch feat/byoc-per-cap-pricing-and-usage-labels at ae1a0ea7a): POST /sign-byoc-job, SignByocJob and payment type byoc; false gives master's surface exactly" },
  byocPerCapPricing: { kind: "bool", default: "false", help: "Price byoc payments (and lv2v ones naming a capability) at the orchestrator's per-capability BYOC price, per second, as that branch's flag does" },
  remoteDiscovery: { kind: "bool", default: "false", help: "Serve DiscoverOrchestrators and GET /discover-orchestrators" },
  orchWebhookUrl: { kind: "string", default: "", help: "Orchestrator discovery webhook URL" },
  orchAddr: { kind: "string", default: "", help: "Comma-separated orchestrator URLs for discovery" },
  orchBlocklist: { kind: "string", default: "", help: "Comma-separated orchestrator addresses discovery never returns" },
  extraNodes: { kind: "string", default: "0", help: "Advertised extra nodes followed per orchestrator by discovery" },
  discoveryTimeout: { kind: "duration", default: "", help: "Time allowed for one orchestrator's discovery answer (default 3s: go-livepeer's 500ms default bounds its job selection, its discovery cache allows 3s)" },
  liveAICapReportInterval: { kind: "duration", default: "25m", help: "Discovery refresh interval, e.g. 30s, 25m" },
  tlsCert: { kind: "string", default: "", help: "TLS certificate (PEM) to serve HTTPS/h2; with -tlsKey" },
  tlsKey: { kind: "string", default: "", help: "TLS private key (PEM)" },
  corsOrigins: { kind: "string", default: "", help: "Comma-separated origins (https://app.example) allowed for browser calls; empty = no cross-origin access; * = any" },
  allowedHosts: { kind: "string", default: "", help: "Comma-separated Host names a loopback -httpAddr also accepts (a proxy in front that forwards its own Host, e.g. signer.internal); loopback names always pass" },
  maxInFlightPayments: { kind: "string", default: "64", help: "GenerateLivePayment calls in flight per process; past it a call gets 503 \"signer busy\" (Connect RESOURCE_EXHAUSTED) at once" },
  maxWatchStreams: { kind: "string", default: "128", help: "Long-lived streams (WatchSignerActivity, WatchOrchestrators, Health.Watch) open per process; past it RESOURCE_EXHAUSTED" },
  chainRefreshInterval: { kind: "duration", default: "5s", help: "How often the chain view is refreshed" },
  chainMaxStaleness: { kind: "duration", default: "60s", help: "Refuse payments when the chain view is older than this" },
  monitor: { kind: "bool", default: "false", help: "Accepted for compatibility; Prometheus metrics are always served on /metrics" },
  workers: { kind: "string", default: "", help: "Processes serving the port (1 = a single process); default: the available parallelism (cores)" },
  logLevel: { kind: "string", default: "info", help: "Log level: trace, debug, info, warn, error" },
  v: { kind: "string", default: "", help: "Accepted for compatibility (go-livepeer verbosity)" },
  events: { kind: "bool", default: "false", help: "Write a create_signed_ticket event per payment to the outbox (SQLite, -eventsDb) before replying; also on with -eventsDb or -kafkaBootstrapServers" },
  eventsDb: { kind: "string", default: "", help: "The event outbox file (default <dataDir>/events.db, dataDir defaulting to ~/.lpData/<network>); with -workers, the workers' journals go in <file>.journals/ beside it" },
  eventsMaxBytes: { kind: "string", default: "1073741824", help: "Outbox quota in bytes; with Kafka a full outbox answers payments unavailable (503), without it the oldest events make room" },
  eventsMaxCount: { kind: "string", default: "2000000", help: "Outbox quota in events (as -eventsMaxBytes)" },
  eventsRetention: { kind: "duration", default: "", help: "Without Kafka: events older than this are pruned (default 24h); 0 keeps them until delivered or removed, a full outbox then answers unavailable" },
  gatewayHost: { kind: "string", default: "", help: "The events' gateway field (go-livepeer's -gatewayHost)" },
  remoteSignerWebhookBody: { kind: "string", default: "default", help: "Auth webhook body: default (go-livepeer's {headers, state}) or extended (adds a payment object: fee, tickets, face value, EV, manifest, request and event id)" },
  kafkaBootstrapServers: { kind: "string", default: "", help: "Kafka brokers to deliver usage events to, a comma list of host:port; empty = events stay in the outbox" },
  kafkaGatewayTopic: { kind: "string", default: "", help: "Kafka topic of the usage events (create_signed_ticket), with -kafkaBootstrapServers" },
  kafkaUser: { kind: "string", default: "", help: "Kafka SASL user (TLS is then on unless -kafkaTls false)" },
  kafkaPassword: { kind: "string", default: "", help: "Kafka SASL password: set LP_KAFKAPASSWORD in the environment, or give here a file that holds it (never the password itself)" },
  kafkaSaslMechanism: { kind: "string", default: "PLAIN", help: "Kafka SASL mechanism with -kafkaUser: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512" },
  kafkaTls: { kind: "string", default: "auto", help: "TLS to the Kafka brokers: auto (on with -kafkaUser or -kafkaTlsCa, as go-livepeer), true or false" },
  kafkaTlsCa: { kind: "string", default: "", help: "CA certificate (PEM file) the Kafka brokers' certificates chain to (default: the system's CAs)" },
  metadataQueueUri: unsupported("string", "AMQP event publishing"),
  metadataAmqpExchange: unsupported("string", "AMQP event publishing"),
  metadataPublishTimeout: unsupported("duration", "AMQP event publishing"),
  metricsPerStream: unsupported("bool", "per-stream metrics"),
  metricsClientIP: unsupported("bool", "per-client metrics"),
  blockPollingInterval: unsupported("string", "block watcher (the chain view refreshes every -chainRefreshInterval)"),
  gasLimit: unsupported("string", "transactions (it never sends one)"),
  minGasPrice: unsupported("string", "transactions (it never sends one)"),
  maxGasPrice: unsupported("string", "transactions (it never sends one)"),
  transactionTimeout: unsupported("duration", "transactions (it never sends one)"),
  maxTransactionReplacements: unsupported("string", "transactions (it never sends one)"),
} satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;
export type RawFlags = Record<FlagName, string>;

const specs = FLAGS as Record<string, FlagSpec>;

/** Parses Go-style flags; throws ConfigError naming the flag. Returns undefined for -help. */
export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): RawFlags | undefined {
  const values = {} as RawFlags;
  for (const [name, spec] of Object.entries(FLAGS) as [FlagName, FlagSpec][]) {
    values[name] = env[`LP_${name.toUpperCase()}`] ?? spec.default;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h" || arg === "-help" || arg === "--help") return undefined;
    const m = /^--?([A-Za-z][A-Za-z0-9]*)(?:=([\s\S]*))?$/.exec(arg);
    if (!m) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}; flags look like -name value`);
    const name = m[1] as FlagName;
    const spec: FlagSpec | undefined = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) throw new ConfigError(`unknown flag -${m[1]} (see --help)`);
    let value = m[2];
    if (spec.kind === "bool") {
      value ??= "true";
      if (!/^(true|false|1|0|t|f|TRUE|FALSE|True|False)$/.test(value)) throw new ConfigError(`-${name}: invalid boolean ${JSON.stringify(value)}`);
    } else if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`-${name} needs a value`);
    }
    values[name] = value;
  }
  return values;
}

export function flagBool(value: string): boolean {
  return /^(true|1|t)$/i.test(value);
}

/** One WARNING per unsupported go-livepeer flag that was set (never silently ignored). */
export function unsupportedFlagWarnings(flags: RawFlags): string[] {
  return (Object.entries(specs) as [FlagName, FlagSpec][])
    .filter(([name, spec]) => spec.unsupported && flags[name] !== spec.default && !(spec.kind === "bool" && !flagBool(flags[name])))
    .map(([name, spec]) => `-${name} is ignored: ${spec.help.replace(/^Ignored, with a warning: /, "")}`);
}

export function usage(): string {
  const lines = ["Usage: lpsigner [flags]", "", "Flags (also from the environment as LP_<NAME>):"];
  for (const [name, spec] of Object.entries(specs)) {
    const def = spec.default === "" ? "" : ` (default ${JSON.stringify(spec.default)})`;
    lines.push(`  -${name}${spec.kind === "bool" ? "" : " value"}`, `      ${spec.help}${def}`);
  }
  lines.push("", "Development only: LPSIGNER_UNSAFE_DEV_PRIVATE_KEY=0x… uses a raw key instead of a keystore (still needs -ethUrl).");
  return lines.join("\n");
}
