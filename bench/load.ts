/**
 * npm run bench:load -- [--workers 1,2] [--duration 5] [--levels 1,2,4,8,16] [--runs 1] [--url URL --pid PID] [--soak SECONDS]
 *
 * Load benchmark of POST /generate-live-payment with realistic gateway sessions (bench/load/gateway.ts).
 * Without --url it starts a development chain and, for each --workers value, a signer
 * (`-workers N`) against it. Each signer gets closed-loop levels (N sessions each calling as fast
 * as answers come) and one open-loop level at half the best closed-loop rate: constant arrivals,
 * latency measured from each call's intended send time, so a stall counts against every call it
 * delays (no coordinated omission). It prints req/s, p50/p99, errors, the signer's CPU (its
 * process tree, from /proc) and the ratio to the ECDSA bound measured in the same run: the run's
 * fastest, and the one measured just before and after the level (%beside).
 * A benchmark, not a test: it asserts nothing.
 */
import { availableParallelism } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fasterBound, measureEcdsaBound, type EcdsaBound } from "./load/ecdsa-bound.js";
import { constantArrivals } from "./load/arrivals.js";
import { GatewayClient, type Session } from "./load/gateway.js";
import { startDevChainProcess, startFloorServer, startSignerProcess, stop } from "./load/spawn.js";
import { treeCpuSeconds, treeRssMiB } from "./load/proc.js";

interface Options {
  url?: string;
  pid?: number;
  workers: number[];
  durationS: number;
  levels: number[];
  soakS: number;
  /** Whole runs (every workers value each time), summarized by their medians. */
  runs: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { workers: [...new Set([1, availableParallelism()])], durationS: 5, levels: [1, 2, 4, 8, 16], soakS: 0, runs: 1 };
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i]!.replace(/^--?/, "").split("=", 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    const list = () => value.split(",").map((v) => Number(v));
    if (name === "url") o.url = value;
    else if (name === "pid") o.pid = Number(value);
    else if (name === "workers") o.workers = list();
    else if (name === "duration") o.durationS = Number(value);
    else if (name === "levels") o.levels = list();
    else if (name === "soak") o.soakS = Number(value);
    else if (name === "runs") o.runs = Number(value);
    else throw new Error(`unknown option --${name}`);
  }
  return o;
}

interface LevelResult {
  label: string;
  /** error count by HTTP status (0: no answer) */
  statuses: Map<number, number>;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cores: number;
  /** CPU of this load client over the level, in cores */
  clientCores: number;
  /** p99 of this client's own event-loop delay, ms: a stall here is counted as signer latency */
  clientLagP99: number;
  rssMiB: number;
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
type Record = (ms: number, ok: boolean, status: number) => void;

async function measure(label: string, pid: number | undefined, durationMs: number, drive: (endAt: number, record: Record) => Promise<void>): Promise<LevelResult> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let errors = 0;
  const cpu0 = pid ? treeCpuSeconds(pid) : 0;
  const client0 = process.cpuUsage();
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  lag.enable();
  const t0 = performance.now();
  await drive(t0 + durationMs, (ms, ok, status) => {
    if (ok) latencies.push(ms);
    else {
      errors++;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
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
  return { label, statuses, rps: latencies.length / elapsed, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), errors, cores: cpu, clientCores, clientLagP99, rssMiB: pid ? treeRssMiB(pid) : NaN };
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
          record(performance.now() - t, r.ok, r.status);
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
        record(performance.now() - intended, r.ok, r.status);
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
  console.log("level            req/s    p50 ms   p99 ms  errors  cores  req/s/core  %core-bound  %beside  %machine-bound  rss MiB  client cores  client lag p99");
  for (const r of rows) {
    const perCore = r.rps / r.cores;
    console.log(
      `${r.label.padEnd(15)}${f(r.rps).padStart(7)}${f(r.p50, 2).padStart(10)}${f(r.p99, 2).padStart(9)}${String(r.errors).padStart(8)}` +
        `${f(r.cores, 2).padStart(7)}${f(perCore).padStart(12)}${f((100 * perCore) / bound.perCore, 1).padStart(13)}` +
        `${f(r.besideBound ? (100 * perCore) / r.besideBound.perCore : NaN, 1).padStart(9)}` +
        `${f((100 * r.rps) / (bound.perCore * cores), 1).padStart(16)}${f(r.rssMiB).padStart(9)}${f(r.clientCores, 2).padStart(14)}${f(r.clientLagP99, 2).padStart(16)}` +
        (r.errors > 0 ? `  errors by status: ${[...r.statuses].map(([s, n]) => `${s}×${n}`).join(" ")}` : ""),
    );
  }
}

async function runAgainst(url: string, pid: number | undefined, opts: Options): Promise<LevelResult[]> {
  const client = new GatewayClient(url);
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
  const best = Math.max(...rows.map((r) => r.rps));
  await level(`open ${f(best / 2)}/s`, ms, await openLoop(client, best / 2), best / 2);
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
      const client = new GatewayClient(floor.url);
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
  run: number;
  workers: number;
  best: LevelResult;
  open: LevelResult;
  floor: LevelResult | undefined;
  errors: number;
}

function summarize(run: number, workers: number, rows: LevelResult[]): SignerSummary {
  const closed = rows.filter((r) => r.label.startsWith("closed"));
  const best = closed.reduce((a, b) => (b.rps > a.rps ? b : a));
  const open = rows.find((r) => r.label.startsWith("open"))!;
  const floor = rows.find((r) => r.label.startsWith("floor"));
  return { run, workers, best, open, floor, errors: rows.reduce((n, r) => n + (r.label.startsWith("floor") ? 0 : r.errors), 0) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const cores = availableParallelism();
  let bound = measureEcdsaBound();
  const tables: { title: string; rows: LevelResult[] }[] = [];
  const summaries: SignerSummary[] = [];
  if (opts.url) {
    tables.push({ title: `signer at ${opts.url}`, rows: await runAgainst(opts.url, opts.pid, opts) });
  } else {
    const chain = await startDevChainProcess();
    try {
      for (let run = 1; run <= opts.runs; run++) {
        for (const workers of opts.workers) {
          const signer = await startSignerProcess(chain, workers);
          try {
            const rows = await runAgainst(signer.url, signer.child.pid, opts);
            await stop(signer.child);
            rows.push(await floorLevel(workers, rows.find((r) => r.label.startsWith("open"))!, opts));
            tables.push({ title: `${opts.runs > 1 ? `run ${run}: ` : ""}-workers ${workers}`, rows });
            summaries.push(summarize(run, workers, rows));
          } finally {
            await stop(signer.child);
          }
        }
        // Measured again after each run; the fastest rounds, op by op, are the bound.
        bound = fasterBound(bound, measureEcdsaBound());
      }
    } finally {
      await stop(chain.child);
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
  const baseOf = (s: SignerSummary) => summaries.find((b) => b.run === s.run && b.workers === baseWorkers)!;
  console.log("\nsummary");
  for (const s of summaries) {
    console.log(
      `${opts.runs > 1 ? `run ${s.run}: ` : ""}-workers ${s.workers}: best ${f(s.best.rps)} req/s (${f(s.best.rps / baseOf(s).best.rps, 2)}x -workers ${baseWorkers}), ` +
        `${f(perCore(s.best), 1)} % of the per-core bound per busy core (${f(perCoreBeside(s.best), 1)} % of the bound beside it), open ${s.open.label.slice(5)}: p50 ${f(s.open.p50, 2)} ms, p99 ${f(s.open.p99, 2)} ms ` +
        `(floor p99 ${f(s.floor?.p99 ?? NaN, 2)} ms); ` +
        `errors at all levels ${s.errors}`,
    );
  }
  if (opts.runs > 1) {
    console.log(`\nmedians of ${opts.runs} runs`);
    for (const workers of opts.workers) {
      const mine = summaries.filter((s) => s.workers === workers);
      console.log(
        `-workers ${workers}: best ${f(median(mine.map((s) => s.best.rps)))} req/s ` +
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

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
