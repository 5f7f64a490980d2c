/**
 * npm run bench:load -- [--workers 1,2] [--duration 5] [--levels 1,2,4,8,16] [--runs 1] [--url URL --pid PID] [--soak SECONDS]
 *   [--backend keystore,pkcs11,kms,jsonrpc] [--events] [--verify] [--compare NAME=COMMAND]... [--json FILE] [--no-floor]
 *   [--orchestrators 8] [--open-rate CALLS_PER_S]
 *
 * Load benchmark of POST /generate-live-payment with realistic gateway sessions (bench/load/gateway.ts).
 * Without --url it starts a development chain and, for each --workers value, a signer
 * (`-workers N`) against it. Each signer gets closed-loop levels (N sessions each calling as fast
 * as answers come; the default ladder goes on doubling past 16, up to 64, while one of its last two
 * levels set the best; --levels runs exactly those) and one open-loop level at half the best
 * closed-loop rate: constant arrivals, latency measured from each call's intended send time, so a
 * stall counts against every call it delays (no coordinated omission). It prints req/s, p50/p99,
 * errors, the signer's CPU (its process tree, from /proc) and the ratio to the ECDSA bound measured
 * in the same run: the run's fastest, and the one measured just before and after the level
 * (%beside).
 * With --backend, each listed key backend (bench/load/backends.ts: the keystore, a SoftHSM2 token,
 * local-kms, clef) gets the same levels, and a last table compares them with the keystore's,
 * beside each backend's bare sign round trip measured against its component. With kms the whole
 * bench runs in a network namespace with only loopback up (local-kms listens on every interface).
 * The signers run with -events=false (no usage events), as before events existed. With --events
 * each -workers value is measured twice in the same run, events off and events on (the embedded
 * outbox, every commit fsynced before its replies, in a scratch -eventsDb), and a last table compares them against the
 * target: on >= 80% of off's best req/s, and p99 < 5 ms at half load.
 * With --verify the load client checks every reply as the orchestrator it pays would
 * (bench/load/verify.ts: each ticket's hash and signature, recipient, params and price as sent,
 * the segment credentials, the state's signature; all recovered with the signer's own native
 * code, against the signer's address, or the first reply's for an external signer), so the
 * client weighs on the machine what a real gateway's does; a reply that fails counts as an error
 * labelled `bad-sig`, `bad-params` or `bad-reply`. Compare the client's cores with and without it.
 * --compare NAME=COMMAND (repeatable) measures another signer on the same development chain, in
 * the same runs (bench/load/compare.ts): COMMAND runs in its own process group with ETH_URL,
 * ETH_CONTROLLER, BENCH_KEY and BENCH_ADDRESS (a key the bench funded) and BENCH_FUND_HELP, and
 * prints `serving: http://HOST:PORT pid: N` once it answers; it is stopped (SIGTERM to its group)
 * at the end. Each run measures every signer (each -workers value, each compare) in an order
 * rotated by one from run to run, so the machine's drift falls on all alike.
 * Every run ends with a side-by-side table (per signer: best req/s, CPU per call at the best
 * level, p50/p99/max at half load, errors by label, RSS per process and total, ratios to the
 * first compare), and with --runs > 1 its medians. --json FILE writes every run's levels and
 * summaries. --no-floor skips the floor server's levels. --orchestrators N: the OrchestratorInfos
 * the sessions share (0: one per session, as each stream's own GetOrchestrator gives; go-livepeer's
 * signer fails concurrent sessions sharing one). Errors are counted by label, the first one's
 * detail shown: an HTTP status, a socket error's code (ECONNRESET), `socket hang up` (closed
 * before answering), `timeout` (no answer in 10 s), or --verify's.
 * --open-rate R runs every signer's open loop at R calls/s instead of half its own best (to
 * compare signers at one rate).
 * A benchmark, not a test: it asserts nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fasterBound, measureEcdsaBound, type EcdsaBound } from "./load/ecdsa-bound.js";
import { constantArrivals } from "./load/arrivals.js";
import { DEFAULT_ORCHESTRATORS, GatewayClient, type Session } from "./load/gateway.js";
import { spawn } from "node:child_process";
import { BACKENDS, NETWORK_BACKENDS, ipTool, kmsMissing, loopbackOnly, measureRoundTrip, setUpBackend, unshareTool, type BackendName, type BackendSetup, type RoundTrip } from "./load/backends.js";
import { startDevChainProcess, startFloorServer, startSignerWithKey, stop } from "./load/spawn.js";
import { processTree, treeCpuSeconds } from "./load/proc.js";
import { SignerIdentity } from "./load/verify.js";
import { parseCompare, startCompare, type CompareProcess, type CompareSpec } from "./load/compare.js";
import { kafkaMissing, startKafkaBroker } from "../test/support/kafka-broker.js";

interface Options {
  url?: string;
  pid?: number;
  workers: number[];
  durationS: number;
  levels: number[];
  /** The default ladder: it goes on doubling while the best may lie further (no --levels given). */
  searchLevels: boolean;
  soakS: number;
  /** Whole runs (every workers value each time), summarized by their medians. */
  runs: number;
  /** Key backends, each measured the same way; the keystore's table is the reference. */
  backends: BackendName[];
  /** Each signer twice: events off and on (the outbox on the payment path). */
  events: boolean;
  /** The client checks every reply's signatures and params. */
  verify: boolean;
  /** External signers measured beside the bench's own, on its chain. */
  compare: CompareSpec[];
  /** Every run's levels and summaries, as JSON. */
  json?: string;
  /** The floor server's level after each own keystore signer. */
  floor: boolean;
  /** Orchestrator infos the sessions share; 0: one per session. */
  orchestrators: number;
  /** --open-rate: the open loop at this rate (calls/s) for every signer, instead of half its best. */
  openRate?: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { workers: [...new Set([1, availableParallelism()])], durationS: 5, levels: [1, 2, 4, 8, 16], searchLevels: true, soakS: 0, runs: 1, backends: ["keystore"], events: false, verify: false, compare: [], floor: true, orchestrators: DEFAULT_ORCHESTRATORS };
  for (let i = 0; i < argv.length; i++) {
    const flag = { "--events": () => (o.events = true), "--verify": () => (o.verify = true), "--no-floor": () => (o.floor = false) }[argv[i]!];
    if (flag) {
      flag();
      continue;
    }
    const [name, inline] = argv[i]!.replace(/^--?/, "").split("=", 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    const list = () => value.split(",").map((v) => Number(v));
    if (name === "url") o.url = value;
    else if (name === "pid") o.pid = Number(value);
    else if (name === "workers") o.workers = list();
    else if (name === "duration") o.durationS = Number(value);
    else if (name === "levels") {
      o.levels = list();
      o.searchLevels = false;
    }
    else if (name === "soak") o.soakS = Number(value);
    else if (name === "runs") o.runs = Number(value);
    else if (name === "compare") o.compare.push(parseCompare(value));
    else if (name === "json") o.json = value;
    else if (name === "orchestrators") o.orchestrators = Number(value);
    else if (name === "open-rate") o.openRate = Number(value);
    else if (name === "backend") {
      o.backends = value.split(",").map((b) => {
        if (!(BACKENDS as readonly string[]).includes(b)) throw new Error(`--backend: unknown backend ${b} (known: ${BACKENDS.join(", ")})`);
        return b as BackendName;
      });
    }
    else throw new Error(`unknown option --${name}`);
  }
  if (o.url && o.compare.length) throw new Error("--compare runs on the bench's own chain: not with --url");
  if (new Set(o.compare.map((c) => c.name)).size < o.compare.length) throw new Error("--compare: each NAME once");
  return o;
}

interface LevelResult {
  label: string;
  /** error count by label: HTTP status, socket error, `socket hang up`, `timeout`, a verify failure */
  errorsBy: Map<string, number>;
  /** The first failure's detail under each label (a body, a verify reason). */
  errorDetail: Map<string, string>;
  rps: number;
  p50: number;
  p99: number;
  /** The slowest answered call, ms (from its intended send time in the open loop). */
  max: number;
  errors: number;
  cores: number;
  /** CPU of this load client over the level, in cores */
  clientCores: number;
  /** p99 of this client's own event-loop delay, ms: a stall here is counted as signer latency */
  clientLagP99: number;
  rssMiB: number;
  /** RSS of each process of the signer's tree at the end of the level, MiB, largest first. */
  rssByProcess: number[];
  /**
   * The faster of the short bounds measured just before and just after this level: the machine's
   * speed drifts with its neighbours over a run, and this compares the level with the machine
   * as it was at the time (still each operation's fastest round).
   */
  besideBound?: EcdsaBound;
  /** Open-loop levels: the arrival rate, calls/s. */
  rate?: number;
}

/** The short bound measured beside each level (about 0.5 s). */
const BESIDE_SCALE = 0.25;

/** The client's own event-loop delay is sampled every LAG_RESOLUTION_MS. */
const LAG_RESOLUTION_MS = 2;

function quantile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Runs `drive` for the level's duration, measuring the signer's CPU over the same window. */
type Record = (ms: number, ok: boolean, label?: string, detail?: string) => void;

async function measure(label: string, pid: number | undefined, durationMs: number, drive: (endAt: number, record: Record) => Promise<void>): Promise<LevelResult> {
  const latencies: number[] = [];
  const errorsBy = new Map<string, number>();
  const errorDetail = new Map<string, string>();
  let errors = 0;
  const cpu0 = pid ? treeCpuSeconds(pid) : 0;
  const client0 = process.cpuUsage();
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  lag.enable();
  const t0 = performance.now();
  await drive(t0 + durationMs, (ms, ok, label = "?", detail) => {
    if (ok) latencies.push(ms);
    else {
      errors++;
      errorsBy.set(label, (errorsBy.get(label) ?? 0) + 1);
      if (detail && !errorDetail.has(label)) errorDetail.set(label, detail);
    }
  });
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = pid ? (treeCpuSeconds(pid) - cpu0) / elapsed : NaN;
  const client = process.cpuUsage(client0);
  const clientCores = (client.user + client.system) / 1e6 / elapsed;
  lag.disable();
  // The histogram holds each timer interval: its lateness is what exceeds the resolution.
  const clientLagP99 = Math.max(0, lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS);
  const sorted = Float64Array.from(latencies).sort();
  const rssByProcess = pid ? processRssMiB(pid) : [];
  return {
    label,
    errorsBy,
    errorDetail,
    rps: latencies.length / elapsed,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    errors,
    cores: cpu,
    clientCores,
    clientLagP99,
    rssMiB: pid ? rssByProcess.reduce((a, b) => a + b, 0) : NaN,
    rssByProcess,
  };
}

/** Resident memory of each live process of the tree, MiB, largest first. */
function processRssMiB(root: number): number[] {
  const out: number[] = [];
  for (const pid of processTree(root)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) out.push(Number(m[1]) / 1024);
    } catch {
      // gone
    }
  }
  return out.sort((a, b) => b - a);
}

/** N sessions, each calling again as soon as it is answered. */
function closedLoop(client: GatewayClient, sessions: number) {
  return async (endAt: number, record: Record) => {
    await Promise.all(
      Array.from({ length: sessions }, async () => {
        const s = client.session();
        while (performance.now() < endAt) {
          const t = performance.now();
          const r = await s.call();
          record(performance.now() - t, r.ok, r.label, r.detail);
        }
      }),
    );
  };
}

/** Sessions (each with its keep-alive connection) the open-loop level spreads its calls over. */
const OPEN_LOOP_SESSIONS = 64;

/**
 * Calls at a constant rate over a fixed set of sessions, as a gateway's streams each call in
 * turn: each arrival takes the session idle longest, so calls go round every connection and so
 * across the workers, and waits in a queue when all are busy. Latency runs from the intended
 * send time, so a stall counts against every call it delays, queued ones included (no
 * coordinated omission). A fixed set, as load tools such as wrk2 keep: opening a connection for
 * each arrival that found none idle turned a 10 ms stall into a storm of hundreds of new
 * connections that measured the storm. The sessions are warmed up first.
 */
async function openLoop(client: GatewayClient, rate: number) {
  const idle: Session[] = Array.from({ length: OPEN_LOOP_SESSIONS }, () => client.session());
  await Promise.all(idle.map((s) => s.call()));
  return async (endAt: number, record: Record) => {
    const waiting: number[] = [];
    let inFlight = 0;
    let allSent = false;
    let drained: () => void = () => {};
    const done = new Promise<void>((resolve) => (drained = resolve));
    const dispatch = (s: Session, intended: number) => {
      inFlight++;
      void s.call().then((r) => {
        record(performance.now() - intended, r.ok, r.label, r.detail);
        inFlight--;
        const next = waiting.shift();
        if (next !== undefined) dispatch(s, next);
        else idle.push(s);
        if (inFlight === 0 && allSent) drained();
      });
    };
    await constantArrivals(rate, endAt - performance.now(), (intended) => {
      const s = idle.shift();
      if (s) dispatch(s, intended);
      else waiting.push(intended);
    });
    allSent = true;
    if (inFlight > 0) await done;
  };
}

const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "-");

function printTable(title: string, rows: LevelResult[], bound: EcdsaBound, cores: number): void {
  console.log(`\n${title}`);
  console.log("level            req/s    p50 ms   p99 ms   max ms  errors  cores  req/s/core  %core-bound  %beside  %machine-bound  rss MiB  client cores  client lag p99");
  for (const r of rows) {
    const perCore = r.rps / r.cores;
    console.log(
      `${r.label.padEnd(15)}${f(r.rps).padStart(7)}${f(r.p50, 2).padStart(10)}${f(r.p99, 2).padStart(9)}${f(r.max, 1).padStart(9)}${String(r.errors).padStart(8)}` +
        `${f(r.cores, 2).padStart(7)}${f(perCore).padStart(12)}${f((100 * perCore) / bound.perCore, 1).padStart(13)}` +
        `${f(r.besideBound ? (100 * perCore) / r.besideBound.perCore : NaN, 1).padStart(9)}` +
        `${f((100 * r.rps) / (bound.perCore * cores), 1).padStart(16)}${f(r.rssMiB).padStart(9)}${f(r.clientCores, 2).padStart(14)}${f(r.clientLagP99, 2).padStart(16)}` +
        (r.errors > 0 ? `  errors: ${labels(r.errorsBy)}` : ""),
    );
    for (const [label, detail] of r.errorDetail) console.log(`${"".padEnd(15)}first ${label}: ${detail.replace(/\s+/g, " ")}`);
  }
}

const labels = (m: Map<string, number>) => [...m].map(([s, n]) => `${s}×${n}`).join(" ");

/** The default ladder's ceiling: the signer's default -maxInFlightPayments (past it a process refuses calls). */
const MAX_LEVEL = 64;
/** One of the last two levels set the best, so the peak may lie further (a single noisy level does not end the search). */
const mayRiseFurther = (rows: LevelResult[]) => {
  const best = rows.reduce((b, r, i) => (r.rps > rows[b]!.rps ? i : b), 0);
  return best >= rows.length - 2;
};

/** `signer`: with --verify, the address every signature must recover to (learned from the first reply when unset). */
async function runAgainst(url: string, pid: number | undefined, opts: Options, signer?: SignerIdentity): Promise<LevelResult[]> {
  const client = new GatewayClient(url, opts.verify ? (signer ?? new SignerIdentity()) : undefined, opts.orchestrators);
  const ms = opts.durationS * 1000;
  await measure("warm-up", pid, 2000, closedLoop(client, 4));
  const rows: LevelResult[] = [];
  let before = measureEcdsaBound(BESIDE_SCALE);
  const level = async (label: string, durationMs: number, drive: Parameters<typeof measure>[3], rate?: number) => {
    const row = await measure(label, pid, durationMs, drive);
    row.rate = rate;
    const after = measureEcdsaBound(BESIDE_SCALE);
    row.besideBound = fasterBound(before, after);
    before = after;
    rows.push(row);
  };
  for (const n of opts.levels) await level(`closed ${n}`, ms, closedLoop(client, n));
  // The default ladder searches the best level instead of stopping at 16: a signer whose calls
  // wait on a disk flush (events on) needs more calls in flight to use its cores.
  if (opts.searchLevels) for (let n = opts.levels.at(-1)! * 2; n <= MAX_LEVEL && mayRiseFurther(rows); n *= 2) await level(`closed ${n}`, ms, closedLoop(client, n));
  const best = Math.max(...rows.map((r) => r.rps));
  const rate = opts.openRate ?? best / 2;
  await level(`open ${f(rate)}/s`, ms, await openLoop(client, rate), rate);
  if (opts.soakS > 0) {
    for (let t = 0; t < opts.soakS; t += 60) {
      await level(`soak ${t / 60 + 1}m`, Math.min(60, opts.soakS - t) * 1000, await openLoop(client, best / 2), best / 2);
    }
  }
  client.close();
  return rows;
}

/** The floor's CPU per call is matched to the signer's within this fraction, */
const FLOOR_MATCH = 0.03;
/** in at most this many rounds of the level; the closest is reported. */
const FLOOR_ROUNDS = 4;

/**
 * The open-loop level again against the floor server (load/floor-server.ts): as many processes
 * as the signer, each call costing the CPU a signer call took at that level (all its threads),
 * same client, same rate. Its p99 is what the machine, its kernel and the load client on the same
 * cores give any server doing that much work per call. The busy loop's length is found by running
 * the level and correcting it until the floor's CPU per call is the signer's: a server's own cost
 * per call falls as it gets busier (fewer wake-ups per call), so its cost with no loop,
 * subtracted once, left the floor a sixth short. The p99 here moves steeply with the CPU per
 * call (the machine is about 80% busy), so a floor a few percent cheaper is not a floor.
 */
async function floorLevel(workers: number, open: LevelResult, opts: Options): Promise<LevelResult> {
  const usPerCall = (r: LevelResult) => (r.cores * 1e6) / r.rps;
  const signerUs = usPerCall(open);
  const round = async (workUs: number) => {
    const floor = await startFloorServer(workers, workUs);
    try {
      const client = new GatewayClient(floor.url, undefined, opts.orchestrators);
      await measure("warm-up", floor.child.pid, 1000, closedLoop(client, 4));
      const row = await measure(`floor ${f(open.rate!)}/s`, floor.child.pid, opts.durationS * 1000, await openLoop(client, open.rate!));
      client.close();
      return row;
    } finally {
      await stop(floor.child);
    }
  };
  const miss = (r: LevelResult) => Math.abs(usPerCall(r) - signerUs) / signerUs;
  let workUs = 0;
  let best: LevelResult | undefined;
  for (let i = 0; i < FLOOR_ROUNDS; i++) {
    const row = await round(workUs);
    if (!best || miss(row) < miss(best)) best = row;
    if (miss(row) <= FLOOR_MATCH) break;
    workUs = Math.max(0, workUs + signerUs - usPerCall(row));
  }
  best!.rate = open.rate;
  return best!;
}

interface SignerSummary {
  /** Measured with events on (--events); undefined or false: off. */
  events?: boolean;
  /** The events variant's title (" events on", " events on, Kafka"). */
  variant?: string;
  run: number;
  /** As the tables name it: "-workers 2", "pkcs11 -workers 1 events on", or a compare's NAME. */
  name: string;
  /** A --compare signer (its backend and workers mean nothing). */
  compare?: boolean;
  backend: BackendName;
  workers: number;
  /** Every level measured, in order. */
  rows: LevelResult[];
  best: LevelResult;
  /** The first closed-loop level (fewest sessions): a call on its own. */
  first: LevelResult;
  open: LevelResult;
  floor: LevelResult | undefined;
  errors: number;
}

function summarize(run: number, name: string, backend: BackendName, workers: number, rows: LevelResult[]): SignerSummary {
  const closed = rows.filter((r) => r.label.startsWith("closed"));
  const best = closed.reduce((a, b) => (b.rps > a.rps ? b : a));
  const open = rows.find((r) => r.label.startsWith("open"))!;
  const floor = rows.find((r) => r.label.startsWith("floor"));
  return { run, name, backend, workers, rows, best, first: closed[0]!, open, floor, errors: rows.reduce((n, r) => n + (r.label.startsWith("floor") ? 0 : r.errors), 0) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Set by the re-exec below: this process runs in the loopback-only namespace. */
const IN_NAMESPACE = "LPSIGNER_BENCH_NETNS";

/**
 * Runs this bench again, whole, in a new network namespace with only loopback up, and returns
 * its exit code: local-kms listens on every interface, so it must run where there is no other.
 * The dev chain, the signers, the other backends and the load client run there too (loopback is
 * loopback: the same kernel path as outside).
 */
function rerunInNamespace(): Promise<number> {
  console.log("kms: running the whole bench in a new network namespace with only loopback up (unshare --net)");
  const child = spawn(
    unshareTool()!,
    ["--net", "--map-root-user", "sh", "-c", `${ipTool()} link set lo up && exec "$0" "$@"`, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: "inherit", env: { ...process.env, [IN_NAMESPACE]: "1" } },
  );
  return new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

/** The three quantities the key-backend targets compare, for one backend and -workers value. */
interface BackendRow {
  backend: BackendName;
  workers: number;
  rps: number;
  keystoreRps: number;
  firstP50: number;
  firstP99: number;
  openP50: number;
  openP99: number;
  errors: number;
  rtt?: number;
}

function backendRows(summaries: SignerSummary[], rtts: Map<string, RoundTrip>, opts: Options): BackendRow[] {
  const out: BackendRow[] = [];
  for (const backend of [...new Set(summaries.map((s) => s.backend))]) {
    for (const workers of opts.workers) {
      const mine = summaries.filter((s) => s.backend === backend && s.workers === workers);
      if (mine.length === 0) continue;
      const keystore = summaries.filter((s) => s.backend === "keystore" && s.workers === workers);
      const rttRuns = mine.map((s) => rtts.get(`${s.run} ${backend}`)?.p50).filter((x): x is number => x !== undefined);
      out.push({
        backend,
        workers,
        rps: median(mine.map((s) => s.best.rps)),
        keystoreRps: keystore.length ? median(keystore.map((s) => s.best.rps)) : NaN,
        firstP50: median(mine.map((s) => s.first.p50)),
        firstP99: median(mine.map((s) => s.first.p99)),
        openP50: median(mine.map((s) => s.open.p50)),
        openP99: median(mine.map((s) => s.open.p99)),
        errors: mine.reduce((n, s) => n + s.errors, 0),
        ...(rttRuns.length ? { rtt: median(rttRuns) } : {}),
      });
    }
  }
  return out;
}

/** PKCS#11: at least half the keystore's req/s. Network backends: a one-ticket call's p99 within 3 round trips. */
function target(r: BackendRow, firstLabel: string): string {
  if (r.backend === "pkcs11") {
    const x = r.rps / r.keystoreRps;
    return `${x >= 0.5 ? "holds" : "MISSED"}: ${f(x, 2)}x keystore req/s (target ≥ 0.5x)`;
  }
  if (NETWORK_BACKENDS.includes(r.backend) && r.rtt !== undefined) {
    const x = r.firstP99 / r.rtt;
    return `${x <= 3 ? "holds" : "MISSED"}: ${firstLabel} p99 = ${f(x, 2)} round trips (target ≤ 3); open-loop p99 = ${f(r.openP99 / r.rtt, 2)}`;
  }
  return "";
}

function printBackendTable(rows: BackendRow[], runs: number, firstLabel: string): void {
  console.log(`\nkey backends${runs > 1 ? ` (medians of ${runs} runs)` : ""}: best closed-loop req/s; ${firstLabel} p50/p99 (a call on its own); open loop at half the best rate; the bare sign round trip (p50, bench to component)`);
  console.log("backend   workers    req/s  x keystore  closed p50  closed p99  open p50  open p99  errors   sign rtt  target");
  for (const r of rows) {
    console.log(
      `${r.backend.padEnd(10)}${String(r.workers).padStart(7)}${f(r.rps).padStart(9)}${f(r.rps / r.keystoreRps, 2).padStart(12)}` +
        `${f(r.firstP50, 2).padStart(12)}${f(r.firstP99, 2).padStart(12)}${f(r.openP50, 2).padStart(10)}${f(r.openP99, 2).padStart(10)}` +
        `${String(r.errors).padStart(8)}${(r.rtt === undefined ? "-" : f(r.rtt, 2)).padStart(11)}  ${target(r, firstLabel)}`,
    );
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (!opts.url && opts.backends.includes("kms") && !loopbackOnly()) {
    const missing = process.env[IN_NAMESPACE] ? "loopback only, but the namespace has other interfaces" : kmsMissing();
    if (!missing) process.exit(await rerunInNamespace());
    console.log(`kms: SKIPPED: local-kms listens on every interface and must run in a loopback-only network namespace; it needs ${missing}`);
    opts.backends = opts.backends.filter((b) => b !== "kms");
  }
  const cores = availableParallelism();
  let bound = measureEcdsaBound();
  const tables: { title: string; rows: LevelResult[] }[] = [];
  const summaries: SignerSummary[] = [];
  /** "run backend" → the bare sign round trip measured before that run's load. */
  const rtts = new Map<string, RoundTrip>();
  /** Each run's order of measurement (--json). */
  const orders: string[][] = [];
  const runTitle = (run: number) => (opts.runs > 1 ? `run ${run}: ` : "");
  /** One of the bench's own signers, each events variant in turn. */
  const measureOwn = async (run: number, setup: BackendSetup, workers: number, chain: Awaited<ReturnType<typeof startDevChainProcess>>) => {
    for (const variant of await eventVariants(opts)) {
      await variant.prepare?.();
      const signer = await startSignerWithKey(chain, workers, [...setup.args, ...variant.args], setup.env);
      try {
        const rows = await runAgainst(signer.url, signer.child.pid, opts, new SignerIdentity(Buffer.from(setup.address.slice(2), "hex")));
        await stop(signer.child);
        // The floor is the keystore's reference; a remote key's calls mostly wait. (Not
        // with --events: the comparison there is events on against off.) Its client never verifies: the floor's replies are canned.
        if (setup.name === "keystore" && !opts.events && opts.floor) rows.push(await floorLevel(workers, rows.find((r) => r.label.startsWith("open"))!, opts));
        const prefix = opts.backends.length > 1 || setup.name !== "keystore" ? `${setup.name} ` : "";
        const name = `${prefix}-workers ${workers}${variant.title}`;
        tables.push({ title: `${runTitle(run)}${name}`, rows });
        summaries.push({ ...summarize(run, name, setup.name, workers, rows), events: variant.on, variant: variant.title });
      } finally {
        await stop(signer.child);
        await variant.cleanup();
      }
    }
  };
  /** A --compare signer: the same levels; it keeps running between runs. */
  const measureCompare = async (run: number, c: CompareProcess) => {
    const rows = await runAgainst(c.url, c.pid, opts, identities.get(c.spec.name));
    tables.push({ title: `${runTitle(run)}${c.spec.name} (--compare)`, rows });
    summaries.push({ ...summarize(run, c.spec.name, "keystore", 0, rows), compare: true });
  };
  /** Each compare's address, learned from its first verified reply and then required of every later one. */
  const identities = new Map(opts.compare.map((c) => [c.name, new SignerIdentity()]));
  if (opts.url) {
    const rows = await runAgainst(opts.url, opts.pid, opts);
    tables.push({ title: `signer at ${opts.url}`, rows });
    // In the side-by-side table only (it has no -workers value of its own).
    summaries.push({ ...summarize(1, opts.url, "keystore", 0, rows), compare: true });
  } else {
    // Set up first (some addresses are only known then), then fund every key on the chain.
    const setups: BackendSetup[] = [];
    const compares: CompareProcess[] = [];
    try {
      for (const name of opts.backends) {
        try {
          setups.push(await setUpBackend(name));
        } catch (err) {
          console.log(`${name}: SKIPPED: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const chain = await startDevChainProcess([...setups.map((s) => s.address), ...opts.compare.map((c) => c.address)]);
      try {
        for (const spec of opts.compare) {
          const c = await startCompare(spec, chain);
          compares.push(c);
          console.log(`compare ${spec.name}: serving ${c.url}, pid ${c.pid} (its process tree is measured), output in ${c.log}`);
        }
        // What a run measures, one unit at a time: each backend and -workers value (all its event
        // variants together, as before), then each compare. Rotated by one each run.
        const units: { name: string; measure(run: number): Promise<void> }[] = [];
        for (const setup of setups) {
          for (const workers of opts.workers) {
            units.push({ name: `${setup.name} -workers ${workers}`, measure: (run) => measureOwn(run, setup, workers, chain) });
          }
        }
        for (const c of compares) units.push({ name: c.spec.name, measure: (run) => measureCompare(run, c) });
        for (let run = 1; run <= opts.runs; run++) {
          for (const setup of setups) {
            const rtt = await measureRoundTrip(setup);
            if (rtt) {
              rtts.set(`${run} ${setup.name}`, rtt);
              console.log(`${opts.runs > 1 ? `run ${run}: ` : ""}${setup.name} (${setup.component}): bare sign round trip p50 ${f(rtt.p50, 2)} ms, p99 ${f(rtt.p99, 2)} ms over ${rtt.n}; two at once p50 ${f(rtt.pairP50, 2)} ms`);
            }
          }
          const shift = (run - 1) % units.length;
          const order = [...units.slice(shift), ...units.slice(0, shift)];
          orders.push(order.map((u) => u.name));
          if (units.length > 1) console.log(`${opts.runs > 1 ? `run ${run}: ` : ""}order: ${order.map((u) => u.name).join(", ")}`);
          for (const unit of order) await unit.measure(run);
          // Measured again after each run; the fastest rounds, op by op, are the bound.
          bound = fasterBound(bound, measureEcdsaBound());
        }
      } finally {
        for (const c of compares) await c.stop();
        await stop(chain.child);
      }
    } finally {
      for (const s of setups) await s.close().catch(() => {});
    }
  }
  if (opts.url) bound = fasterBound(bound, measureEcdsaBound());
  console.log(
    `ECDSA bound (native libsecp256k1, WASM keccak; fastest rounds, before and after the load): sign ${f(bound.signUs, 1)} µs, ` +
      `recover ${f(bound.recoverUs, 1)} µs, keccak ${f(bound.keccakUs, 2)} µs → ${f(bound.perCore)} calls/s per core, ${f(bound.perCore * cores)} on ${cores} cores`,
  );
  for (const t of tables) printTable(t.title, t.rows, bound, cores);
  if (summaries.length === 0) return;
  const perCore = (r: LevelResult) => (100 * r.rps) / r.cores / bound.perCore;
  const perCoreBeside = (r: LevelResult) => (r.besideBound ? (100 * r.rps) / r.cores / r.besideBound.perCore : NaN);
  const baseWorkers = opts.workers[0]!;
  const baseOf = (s: SignerSummary) => summaries.find((b) => b.run === s.run && b.backend === s.backend && b.workers === baseWorkers && !b.events)!;
  const named = (s: { backend: BackendName }) => (opts.backends.length > 1 || s.backend !== "keystore" ? `${s.backend} ` : "");
  console.log("\nsummary");
  for (const s of summaries.filter((s) => !s.compare)) {
    console.log(
      `${opts.runs > 1 ? `run ${s.run}: ` : ""}${named(s)}-workers ${s.workers}${opts.events ? (s.variant ?? (s.events ? " events on" : " events off")) : ""}: best ${f(s.best.rps)} req/s (${f(s.best.rps / baseOf(s).best.rps, 2)}x -workers ${baseWorkers}), ` +
        `${f(perCore(s.best), 1)} % of the per-core bound per busy core (${f(perCoreBeside(s.best), 1)} % of the bound beside it), open ${s.open.label.slice(5)}: p50 ${f(s.open.p50, 2)} ms, p99 ${f(s.open.p99, 2)} ms ` +
        `(floor p99 ${f(s.floor?.p99 ?? NaN, 2)} ms); ` +
        `errors at all levels ${s.errors}`,
    );
  }
  if (opts.runs > 1) {
    console.log(`\nmedians of ${opts.runs} runs`);
    for (const backend of [...new Set(summaries.map((s) => s.backend))]) {
      for (const workers of opts.workers) {
        const mine = summaries.filter((s) => s.backend === backend && s.workers === workers);
        if (mine.length === 0) continue;
        console.log(
          `${named({ backend })}-workers ${workers}: best ${f(median(mine.map((s) => s.best.rps)))} req/s ` +
            `(${f(median(mine.map((s) => s.best.rps / baseOf(s).best.rps)), 2)}x -workers ${baseWorkers}), ` +
            `${f(median(mine.map((s) => perCore(s.best))), 1)} % of the per-core bound per busy core ` +
            `(${f(median(mine.map((s) => perCoreBeside(s.best))), 1)} % of the bound beside it), ` +
            `open: p50 ${f(median(mine.map((s) => s.open.p50)), 2)} ms, p99 ${f(median(mine.map((s) => s.open.p99)), 2)} ms ` +
            `(floor p99 ${f(median(mine.map((s) => s.floor?.p99 ?? NaN)), 2)} ms); ` +
            `errors ${mine.reduce((n, s) => n + s.errors, 0)}`,
        );
      }
    }
  }
  printSideBySide(summaries, opts);
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify({ options: { ...opts, compare: opts.compare.map((c) => ({ name: c.name, command: c.command })) }, cores, bound, orders, signers: summaries.map((s) => ({ ...s, side: sideRow(s) })) }, jsonValue, 1));
    console.log(`\nevery run's levels and summaries: ${opts.json}`);
  }
  if (opts.events) printEventsTable(summaries);
  if (opts.backends.length > 1 || opts.backends[0] !== "keystore") printBackendTable(backendRows(summaries, rtts, opts), opts.runs, `closed ${opts.levels[0]}`);
}

/** JSON.stringify's replacer: maps as objects (NaN, a quantity not measured, becomes null). */
function jsonValue(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}

/** Per signer and run, the quantities the side-by-side comparison (issue 27) reads. */
interface SideRow {
  name: string;
  rps: number;
  bestLevel: string;
  /** The signer's CPU (process tree) per answered call at the best level, µs. */
  cpuUs: number;
  /** The load client's CPU at the best level, cores. */
  clientCores: number;
  openRate: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  errorsBy: Map<string, number>;
  /** At the end of the open loop, MiB: each process, and their sum. */
  rssByProcess: number[];
  rss: number;
}

function sideRow(s: SignerSummary): SideRow {
  const errorsBy = new Map<string, number>();
  for (const r of s.rows) if (!r.label.startsWith("floor")) for (const [l, n] of r.errorsBy) errorsBy.set(l, (errorsBy.get(l) ?? 0) + n);
  return {
    name: s.name,
    rps: s.best.rps,
    bestLevel: s.best.label,
    cpuUs: (s.best.cores * 1e6) / s.best.rps,
    clientCores: s.best.clientCores,
    openRate: s.open.rate ?? NaN,
    p50: s.open.p50,
    p99: s.open.p99,
    max: s.open.max,
    errors: s.errors,
    errorsBy,
    rssByProcess: s.open.rssByProcess,
    rss: s.open.rssMiB,
  };
}

const RATIOS = [
  ["req/s", (r: SideRow) => r.rps],
  ["cpu", (r: SideRow) => r.cpuUs],
  ["p99", (r: SideRow) => r.p99],
  ["max", (r: SideRow) => r.max],
  ["rss", (r: SideRow) => r.rss],
] as const;

function printSideRows(rows: (SideRow & { ratios?: number[] })[], withRatios: string | undefined): void {
  // The names column fits the longest name ("-workers 2 events on, Kafka" is 27 characters).
  const nameWidth = Math.max(24, ...rows.map((r) => r.name.length + 1));
  console.log(
    "signer".padEnd(nameWidth) +
      " best req/s  (level)     cpu µs/call  client cores   open rate  p50 ms  p99 ms   max ms   rss MiB: total (per process)  errors" +
      (withRatios ? `  ratios to ${withRatios}: ${RATIOS.map(([n]) => n).join(" ")}` : ""),
  );
  for (const r of rows) {
    const rss = `${f(r.rss)} (${r.rssByProcess.map((m) => f(m)).join("+")})`;
    console.log(
      `${r.name.padEnd(nameWidth)}${f(r.rps).padStart(11)}  ${`(${r.bestLevel})`.padEnd(12)}${f(r.cpuUs).padStart(11)}${f(r.clientCores, 2).padStart(14)}` +
        `${f(r.openRate).padStart(12)}${f(r.p50, 2).padStart(8)}${f(r.p99, 2).padStart(8)}${f(r.max, 1).padStart(9)}   ${rss.padEnd(29)}` +
        `${String(r.errors).padStart(7)}${r.errors ? ` (${labels(r.errorsBy)})` : ""}` +
        (r.ratios ? `  ${r.ratios.map((x) => f(x, 2)).join(" ")}` : ""),
    );
  }
}

/**
 * Every signer of each run side by side, then (--runs > 1) their medians: the best closed-loop
 * level, the open loop at half of it, memory at its end, and with --compare each quantity's ratio
 * to the first compare's in the same run (medians of those per-run ratios below).
 */
function printSideBySide(summaries: SignerSummary[], opts: Options): void {
  const reference = opts.compare[0]?.name;
  const ratiosOf = (row: SideRow, run: number) => {
    const ref = summaries.find((s) => s.run === run && s.name === reference);
    return ref ? RATIOS.map(([, q]) => q(row) / q(sideRow(ref))) : undefined;
  };
  const verified = opts.verify ? ", the client verifying every reply" : "";
  for (let run = 1; run <= opts.runs; run++) {
    const rows = summaries.filter((s) => s.run === run).map((s) => ({ ...sideRow(s), ratios: ratiosOf(sideRow(s), run) }));
    console.log(`\nside by side${opts.runs > 1 ? `, run ${run}` : ""}${verified}: best closed level; open loop at half its rate; RSS at the open loop's end`);
    printSideRows(rows, reference);
  }
  if (opts.runs < 2) return;
  console.log(`\nside by side, medians of ${opts.runs} runs${verified} (errors: the sum)`);
  const names = [...new Set(summaries.map((s) => s.name))];
  const rows = names.map((name) => {
    const mine = summaries.filter((s) => s.name === name).map((s) => ({ ...sideRow(s), ratios: ratiosOf(sideRow(s), s.run) }));
    const m = (q: (r: SideRow) => number) => median(mine.map(q));
    const errorsBy = new Map<string, number>();
    for (const r of mine) for (const [l, n] of r.errorsBy) errorsBy.set(l, (errorsBy.get(l) ?? 0) + n);
    const processes = Math.max(...mine.map((r) => r.rssByProcess.length));
    return {
      name,
      rps: m((r) => r.rps),
      bestLevel: "median",
      cpuUs: m((r) => r.cpuUs),
      clientCores: m((r) => r.clientCores),
      openRate: m((r) => r.openRate),
      p50: m((r) => r.p50),
      p99: m((r) => r.p99),
      max: m((r) => r.max),
      errors: mine.reduce((n, r) => n + r.errors, 0),
      errorsBy,
      // Each rank's median: the largest process's, the second's…
      rssByProcess: Array.from({ length: processes }, (_, i) => median(mine.map((r) => r.rssByProcess[i] ?? NaN).filter(Number.isFinite))),
      rss: m((r) => r.rss),
      ratios: mine[0]!.ratios ? RATIOS.map((_, i) => median(mine.map((r) => r.ratios![i]!))) : undefined,
    };
  });
  printSideRows(rows, reference);
}

/**
 * The signer variants measured: events off (the default), and with --events also on, in a scratch
 * outbox, and on with delivery to a real Kafka broker (test/support/kafka-broker.ts) when its jars are there.
 */
async function eventVariants(opts: Options): Promise<EventVariant[]> {
  const off: EventVariant = { title: opts.events ? " events off" : "", on: false, args: ["-events=false"], cleanup: () => {} };
  if (!opts.events) return [off];
  const dir = mkdtempSync(join(tmpdir(), "lpsigner-bench-events-"));
  const variants: EventVariant[] = [off, { title: " events on", on: true, args: ["-eventsDb", join(dir, "events.db")], cleanup: () => rmSync(dir, { recursive: true, force: true }) }];
  const missing = kafkaMissing();
  if (missing) {
    console.log(`events on, Kafka: SKIPPED: ${missing}`);
    return variants;
  }
  const kdir = mkdtempSync(join(tmpdir(), "lpsigner-bench-kafka-"));
  let broker: Awaited<ReturnType<typeof startKafkaBroker>> | undefined;
  const kafka: EventVariant = {
    title: " events on, Kafka",
    on: true,
    args: [],
    // The broker runs only while this variant is measured.
    prepare: async () => {
      broker = await startKafkaBroker({ partitions: 4 });
      kafka.args = ["-eventsDb", join(kdir, "events.db"), "-kafkaBootstrapServers", broker.bootstrap, "-kafkaGatewayTopic", "bench-events"];
    },
    cleanup: async () => {
      await broker?.stop();
      rmSync(kdir, { recursive: true, force: true });
    },
  };
  return [...variants, kafka];
}

interface EventVariant {
  title: string;
  on: boolean;
  args: string[];
  prepare?(): Promise<void>;
  cleanup(): void | Promise<void>;
}

/** --events: on against off, per backend, -workers value and run, against the issue's targets. */
function printEventsTable(summaries: SignerSummary[]): void {
  console.log("\nevents on vs off (same run): best closed-loop req/s, open loop at half the best rate");
  for (const on of summaries.filter((s) => s.events)) {
    const off = summaries.find((s) => !s.events && s.run === on.run && s.backend === on.backend && s.workers === on.workers);
    if (!off) continue;
    const ratio = on.best.rps / off.best.rps;
    console.log(
      `${on.backend} -workers ${on.workers}${on.run > 1 ? ` run ${on.run}` : ""}${on.variant ?? ""}: off ${f(off.best.rps)} req/s (${off.best.label}), on ${f(on.best.rps)} req/s (${on.best.label}) = ${f(100 * ratio, 1)} % ` +
        `(${ratio >= 0.8 ? "holds" : "MISSED"}: target >= 80 %); p99 at half load: off ${f(off.open.p99, 2)} ms, on ${f(on.open.p99, 2)} ms ` +
        `(${on.open.p99 < 5 ? "holds" : "MISSED"}: target < 5 ms); errors on ${on.errors}`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
