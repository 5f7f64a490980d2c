/**
 * Flags and environment, with go-livepeer's names and defaults where the concept is the same.
 * Go flag syntax: -name value, -name=value or --name; boolean flags take no separate value.
 * Each flag may also come from the environment as LP_<NAME> (upper case), as go-livepeer's
 * ff parser allows; the command line wins.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type FlagKind = "string" | "bool" | "duration";
interface FlagSpec {
  kind: FlagKind;
  default: string;
  help: string;
}

export const FLAGS = {
  network: { kind: "string", default: "", help: "Network: arbitrum-one-mainnet, mainnet, … (offchain is refused); empty with no -ethUrl starts the dev chain" },
  ethUrl: { kind: "string", default: "", help: "Ethereum JSON-RPC URL; empty starts an embedded development chain" },
  ethController: { kind: "string", default: "", help: "Livepeer Controller address (default: the -network's)" },
  ethKeystorePath: { kind: "string", default: "", help: "Keystore file or directory (go-ethereum format)" },
  ethAcctAddr: { kind: "string", default: "", help: "Account to use from the keystore directory" },
  ethPassword: { kind: "string", default: "", help: "Keystore password, or a path to a file holding it" },
  httpAddr: { kind: "string", default: "127.0.0.1:8935", help: "Address to serve the signer on (Connect, gRPC, gRPC-web and legacy HTTP)" },
  cliAddr: { kind: "string", default: "127.0.0.1:3935", help: "Accepted for compatibility; lpsigner serves everything on -httpAddr" },
  maxTicketEV: { kind: "string", default: "3000000000000", help: "Maximum EV of one ticket, wei" },
  maxTotalEV: { kind: "string", default: "20000000000000", help: "Maximum EV of one batch of tickets, wei" },
  depositMultiplier: { kind: "string", default: "1", help: "faceValue may be at most deposit / depositMultiplier" },
  maxPricePerUnit: { kind: "string", default: "0", help: "Maximum orchestrator price, wei per -pixelsPerUnit units (0 = no limit)" },
  pixelsPerUnit: { kind: "string", default: "1", help: "Units that -maxPricePerUnit is for" },
  maxPricePerCapability: { kind: "string", default: "", help: "JSON or path: {\"capabilities_prices\":[{pipeline, model_id, price_per_unit, pixels_per_unit}]}" },
  remoteSigner: { kind: "bool", default: "true", help: "Accepted for compatibility; lpsigner is always a remote signer" },
  remoteSignerWebhookUrl: { kind: "string", default: "", help: "Auth webhook called by GenerateLivePayment" },
  remoteSignerWebhookHeaders: { kind: "string", default: "", help: "Headers for the auth webhook: 'k:v,k2:v2'" },
  remoteSignerAllowNoAuth: { kind: "bool", default: "false", help: "Allow a non-loopback -httpAddr without a webhook (UNSAFE)" },
  remoteDiscovery: { kind: "bool", default: "false", help: "Serve DiscoverOrchestrators and GET /discover-orchestrators" },
  orchWebhookUrl: { kind: "string", default: "", help: "Orchestrator discovery webhook URL" },
  orchAddr: { kind: "string", default: "", help: "Comma-separated orchestrator URLs for discovery" },
  liveAICapReportInterval: { kind: "duration", default: "25m", help: "Discovery refresh interval, e.g. 30s, 25m" },
  tlsCert: { kind: "string", default: "", help: "TLS certificate (PEM) to serve HTTPS/h2; with -tlsKey" },
  tlsKey: { kind: "string", default: "", help: "TLS private key (PEM)" },
  corsOrigins: { kind: "string", default: "*", help: "Comma-separated origins allowed for browser (gRPC-web/Connect) calls" },
  chainRefreshInterval: { kind: "duration", default: "5s", help: "How often the chain view is refreshed" },
  chainMaxStaleness: { kind: "duration", default: "60s", help: "Refuse payments when the chain view is older than this" },
  logLevel: { kind: "string", default: "info", help: "Log level: trace, debug, info, warn, error" },
  v: { kind: "string", default: "", help: "Accepted for compatibility (go-livepeer verbosity)" },
} satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;
export type RawFlags = Record<FlagName, string>;

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
    const spec: FlagSpec | undefined = (FLAGS as Record<string, FlagSpec>)[name];
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

/** Go's time.ParseDuration for the units operators use (ns…h, combined like 1m30s). */
export function parseDuration(text: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * unitMs[m[2]!]!;
    matched = re.lastIndex;
  }
  if (text === "0") return 0;
  if (matched !== text.length || text === "") throw new ConfigError(`-${flag}: invalid duration ${JSON.stringify(text)} (e.g. 30s, 25m)`);
  return total;
}

export function parseWei(text: string, flag: string): bigint {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`-${flag} must be a whole number of wei, got ${JSON.stringify(text)}`);
  return BigInt(text.trim());
}

/** 'k:v,k2:v2' → {k: v, k2: v2}, as the reference parses header flags. */
export function parseHeaderList(text: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text.trim() === "") return out;
  for (const pair of text.split(",")) {
    const i = pair.indexOf(":");
    if (i <= 0) throw new ConfigError(`-${flag}: expected 'name:value' pairs, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

/** host:port → parts; ":8935" binds all interfaces like Go. */
export function parseListenAddr(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m) throw new ConfigError(`-${flag}: expected host:port, got ${JSON.stringify(text)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`-${flag}: port out of range`);
  return { host: m[1] ?? m[2] ?? "", port };
}

export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function usage(): string {
  const lines = ["Usage: npm start -- [flags]", "", "Flags (also from the environment as LP_<NAME>):"];
  for (const [name, spec] of Object.entries(FLAGS) as [string, FlagSpec][]) {
    const def = spec.default === "" ? "" : ` (default ${JSON.stringify(spec.default)})`;
    lines.push(`  -${name}${spec.kind === "bool" ? "" : " value"}`, `      ${spec.help}${def}`);
  }
  lines.push("", "Development only: LPSIGNER_UNSAFE_DEV_PRIVATE_KEY=0x… uses a raw key instead of a keystore.");
  return lines.join("\n");
}
