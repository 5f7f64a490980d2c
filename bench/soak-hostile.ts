/**
 * npm run soak -- [--duration 180] [--workers 1] [--phase 20]
 *
 * Soak under hostile load (issues 11 and 22): starts a development chain and a signer, then
 * 1. floods of valid-looking requests (bench/load/floods.ts), one at a time for --phase seconds
 *    each after an unloaded phase: 2,000 never-read activity streams, four loops of 100-ticket
 *    calls, 32 loops of /metrics scrapes. Two valid legacy gateway sessions pay throughout; each
 *    phase reports their p50/p99 beside the unloaded p99, their errors, and the largest RSS of
 *    any one signer process (targets: 0 errors, p99 within 3x unloaded, under 600 MiB);
 * 2. for --duration seconds, every attack of bench/load/hostile.ts at a modest bounded rate while
 *    a few valid gateway sessions keep paying, two on the legacy endpoint and two over Connect.
 *    Every 10 s and at the end it prints the signer's memory and descriptors (its process tree),
 *    the valid calls and their errors, and each attack's attempts by outcome.
 * --phase 0 or --duration 0 skips a part. Exits non-zero if a valid call failed or the signer
 * died. A script, not a test: loopback only, stops by itself.
 */
import { createClient } from "@connectrpc/connect";
import { setMaxListeners } from "node:events";
import { createConnectTransport } from "@connectrpc/connect-node";
import { JobType, SignerService, type SignerState } from "../gen/livepeer/signer/v1/signer_pb.js";
import { GatewayClient, CALLS_PER_SESSION, benchOrchestratorInfo } from "./load/gateway.js";
import { attacks, HOLD_MS, type Attack } from "./load/hostile.js";
import { hundredTicketFlood, scrapeFlood, streamFlood, type Tally as FloodTally } from "./load/floods.js";
import { maxProcessRssMiB, treeFdCount, treeRssMiB } from "./load/proc.js";
import { startDevChainProcess, startSignerProcess, stop } from "./load/spawn.js";

/** How many attempts of each kind run at once, and the pause between one's end and the next. */
const PACE: Record<string, { concurrent: number; pauseMs: number }> = {
  "slow headers": { concurrent: 20, pauseMs: 100 },
  "silent after connect": { concurrent: 20, pauseMs: 100 },
  "slow body": { concurrent: 20, pauseMs: 100 },
  "1 GiB body declared": { concurrent: 20, pauseMs: 100 },
  "reset before first byte": { concurrent: 1, pauseMs: 100 },
  "h2 stream flood (1000)": { concurrent: 2, pauseMs: 1000 },
};
const DEFAULT_PACE = { concurrent: 1, pauseMs: 250 };
const VALID_PAUSE_MS = 50;

function parseArgs(argv: string[]): { durationS: number; workers: number; phaseS: number } {
  const o = { durationS: 180, workers: 1, phaseS: 20 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]!.replace(/^--?/, "");
    const value = Number(argv[i + 1]);
    if (name !== "duration" && name !== "workers" && name !== "phase") throw new Error(`unknown option --${name}`);
    if (!Number.isFinite(value) || value < 0 || (name === "workers" && value < 1)) throw new Error(`--${name} needs a number ≥ ${name === "workers" ? 1 : 0}`);
    if (name === "duration") o.durationS = value;
    else if (name === "phase") o.phaseS = value;
    else o.workers = value;
  }
  return o;
}

const quantile = (sorted: number[], q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);

/**
 * The flood phases: an unloaded phase, then each flood alone, while two valid legacy sessions pay
 * (50 ms apart, as the mixed soak's). Returns whether every phase kept the valid sessions error-free.
 */
async function floodPhases(url: string, pid: number, phaseS: number): Promise<boolean> {
  const floods: [string, ((signal: AbortSignal, tally: FloodTally) => Promise<void>) | undefined][] = [
    ["unloaded", undefined],
    ["2,000 never-read streams", (signal, tally) => streamFlood(url, 2000, signal, tally)],
    ["4 loops of 100-ticket calls", (signal, tally) => hundredTicketFlood(url, 4, signal, tally)],
    ["32 loops of /metrics scrapes", (signal, tally) => scrapeFlood(url, 32, signal, tally)],
  ];
  let unloadedP99 = NaN;
  let ok = true;
  console.log(`\nflood phases, ${phaseS} s each; two valid legacy sessions pay throughout`);
  console.log(`${"phase".padEnd(30)} ${"valid calls".padStart(11)} ${"errors".padStart(6)} ${"p50 ms".padStart(7)} ${"p99 ms".padStart(7)} ${"x unloaded".padStart(10)} ${"max RSS/process".padStart(16)}  flood outcomes`);
  for (const [name, flood] of floods) {
    const abort = new AbortController();
    setMaxListeners(0, abort.signal);
    const tally: FloodTally = new Map();
    const running = flood?.(abort.signal, tally);
    // Let a flood build up before measuring.
    if (flood) await sleep(Math.min(5000, phaseS * 250));
    const latencies: number[] = [];
    const errors = new Map<string, number>();
    let rss = 0;
    const gateway = new GatewayClient(url);
    const endAt = Date.now() + phaseS * 1000;
    const session = async () => {
      const s = gateway.session();
      while (Date.now() < endAt) {
        const started = performance.now();
        const r = await s.call();
        latencies.push(performance.now() - started);
        if (!r.ok) bump(errors, String(r.status));
        await sleep(VALID_PAUSE_MS);
      }
    };
    const sampler = setInterval(() => (rss = Math.max(rss, maxProcessRssMiB(pid))), 1000);
    await Promise.all([session(), session()]);
    clearInterval(sampler);
    rss = Math.max(rss, maxProcessRssMiB(pid));
    abort.abort();
    await running;
    gateway.close();
    latencies.sort((a, b) => a - b);
    const p99 = quantile(latencies, 0.99);
    if (!flood) unloadedP99 = p99;
    const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
    if (errorCount > 0) ok = false;
    const outcomes = [...tally].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join("; ");
    console.log(
      `${name.padEnd(30)} ${String(latencies.length).padStart(11)} ${String(errorCount).padStart(6)} ${quantile(latencies, 0.5).toFixed(2).padStart(7)} ${p99.toFixed(2).padStart(7)} ${(p99 / unloadedP99).toFixed(2).padStart(10)} ${`${rss.toFixed(0)} MiB`.padStart(16)}  ${outcomes}` +
        (errorCount ? `  valid errors: ${[...errors].map(([k, n]) => `${k} ×${n}`).join(", ")}` : ""),
    );
    // Let the signer settle (dropped streams, closed sockets) before the next phase.
    await sleep(2000);
  }
  return ok;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Tally {
  validCalls: number;
  validErrors: Map<string, number>;
  hostile: Map<string, Map<string, number>>;
  /** Attempts under way, by kind (slow ones hold a connection until the signer drops it). */
  inFlight: Map<string, number>;
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** A legacy gateway session paying until `stopped()`. */
async function legacySession(client: GatewayClient, tally: Tally, stopped: () => boolean) {
  const s = client.session();
  while (!stopped()) {
    const r = await s.call();
    tally.validCalls++;
    if (!r.ok) bump(tally.validErrors, `legacy ${r.status}`);
    await sleep(VALID_PAUSE_MS);
  }
}

/** A Connect session (HTTP/1.1 or h2c) carrying its state from call to call. */
async function connectSession(url: string, httpVersion: "1.1" | "2", tally: Tally, stopped: () => boolean) {
  const client = createClient(SignerService, createConnectTransport({ baseUrl: url, httpVersion }));
  const orchestrator = benchOrchestratorInfo();
  let state: SignerState | undefined;
  let calls = 0;
  let manifestId = "";
  while (!stopped()) {
    if (state === undefined || calls >= CALLS_PER_SESSION) [state, calls, manifestId] = [undefined, 0, `c${Math.random().toString(16).slice(2, 10)}`];
    tally.validCalls++;
    try {
      const res = await client.generateLivePayment({ orchestrator, state, manifestId, type: JobType.FIXED });
      state = res.state;
      calls++;
    } catch (e) {
      bump(tally.validErrors, `connect ${httpVersion}: ${e instanceof Error ? e.message : String(e)}`.slice(0, 120));
      state = undefined;
    }
    await sleep(VALID_PAUSE_MS);
  }
}

/** Runs `attack` with bounded concurrency until `stopped()`, tallying outcomes. */
async function hostileLoop(name: string, attack: Attack, tally: Tally, stopped: () => boolean, signal: AbortSignal) {
  const outcomes = new Map<string, number>();
  tally.hostile.set(name, outcomes);
  const { concurrent, pauseMs } = PACE[name] ?? DEFAULT_PACE;
  await Promise.all(
    Array.from({ length: concurrent }, async () => {
      while (!stopped()) {
        bump(tally.inFlight, name);
        const outcome = attack(signal).finally(() => tally.inFlight.set(name, tally.inFlight.get(name)! - 1));
        bump(outcomes, await outcome.catch((e: unknown) => `threw ${String(e).slice(0, 60)}`));
        await sleep(pauseMs);
      }
    }),
  );
}

function report(label: string, pid: number, tally: Tally): void {
  const errors = [...tally.validErrors.values()].reduce((a, b) => a + b, 0);
  console.log(`\n[${label}] signer rss ${treeRssMiB(pid).toFixed(0)} MiB, fds ${treeFdCount(pid)}; valid calls ${tally.validCalls}, valid errors ${errors}`);
  for (const [k, n] of tally.validErrors) console.log(`  valid error ${k} ×${n}`);
  for (const [name, outcomes] of tally.hostile) {
    const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
    const detail = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join("; ");
    console.log(`  ${name.padEnd(26)}${String(total).padStart(6)} done, ${String(tally.inFlight.get(name) ?? 0).padStart(3)} under way  ${detail}`);
  }
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const chain = await startDevChainProcess();
  try {
    const signer = await startSignerProcess(chain, opts.workers);
    const pid = signer.child.pid!;
    let died = false;
    const onExit = (code: number | null, sig: string | null) => ((died = true), console.log(`\nthe signer died (${code ?? sig})`));
    signer.child.once("exit", onExit);
    console.log(`signer ${signer.url} (pid ${pid}, -workers ${opts.workers}); floods ${opts.phaseS} s each, soak ${opts.durationS} s; attempts give up after ${HOLD_MS / 1000} s`);
    const floodsOk = opts.phaseS > 0 ? await floodPhases(signer.url, pid, opts.phaseS) : true;
    const tally: Tally = { validCalls: 0, validErrors: new Map(), hostile: new Map(), inFlight: new Map() };
    const endAt = Date.now() + opts.durationS * 1000;
    const stopped = () => died || Date.now() >= endAt;
    const abort = new AbortController(); // ends attempts still open when the soak ends
    setMaxListeners(0, abort.signal); // one listener per attempt under way
    const gateway = new GatewayClient(signer.url);
    const ticker = setInterval(() => report(`${Math.round((opts.durationS * 1000 - (endAt - Date.now())) / 1000)} s`, pid, tally), 10_000);
    const work = Promise.all([
      legacySession(gateway, tally, stopped),
      legacySession(gateway, tally, stopped),
      connectSession(signer.url, "1.1", tally, stopped),
      connectSession(signer.url, "2", tally, stopped),
      ...Object.entries(attacks(signer.url)).map(([name, attack]) => hostileLoop(name, attack, tally, stopped, abort.signal)),
    ]);
    while (!stopped()) await sleep(200);
    clearInterval(ticker);
    report("end, under load", pid, tally);
    abort.abort();
    await work;
    gateway.close();
    await sleep(1000);
    console.log(`after the clients closed: signer rss ${treeRssMiB(pid).toFixed(0)} MiB, fds ${treeFdCount(pid)}`);
    const failed = tally.validErrors.size > 0 || died || !floodsOk;
    console.log(failed ? `\nFAIL: ${died ? "the signer died" : "valid sessions had errors"}` : "\nOK: no valid-session errors, the signer is alive");
    signer.child.off("exit", onExit);
    await stop(signer.child);
    return failed ? 1 : 0;
  } finally {
    await stop(chain.child);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
