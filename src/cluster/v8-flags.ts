/**
 * V8 flags for every signer process: the single process, the -workers primary and its workers
 * (package.json's start script, bin/lpsigner.js's first line and deploy/systemd carry the same;
 * docs/performance.md says why):
 * - --single-threaded-gc: a signer shares its cores with its workers, its gateways' load or other
 *   services, so V8's parallel GC helpers could only take time from them, and a pause waiting on
 *   a preempted helper grows (workers: the open-loop p99 at half load fell from 9.5-14.4 to
 *   7.7-8.4 ms in A/B runs on 2 cores; the single process beside a verifying load client: from a
 *   median of 11.5 ms to 7.0 ms at 1,800 calls/s, in interleaved runs);
 * - --no-memory-reducer: V8 runs up to three compacting full GCs, about 8 s apart, whenever it
 *   judges the allocation rate low after a full GC; a busy worker paused 8-17 ms for each.
 * - --max-semi-space-size=4 (MiB; V8's default is 16) and --heap-growing-percent=20 (the old
 *   generation may grow 20 % past what the last full GC kept before the next, rather than up to
 *   double): live data is about 20 MiB under load, and the rest of a process's heap was young
 *   generation and garbage not yet collected. A single process under load went from 116-131 to
 *   107-110 MiB (-workers 2: 88-93 MiB per process, about as before), with p99 at half load no longer
 *   and CPU per call up 0-5 % (interleaved runs against 8 MiB alone, plain client; docs/performance.md).
 */
export const SIGNER_V8_FLAGS = ["--single-threaded-gc", "--no-memory-reducer", "--max-semi-space-size=4", "--heap-growing-percent=20"];

/** This process's exec arguments with the signer's V8 flags added (each once), for its workers. */
export function workerExecArgv(): string[] {
  return [...process.execArgv, ...SIGNER_V8_FLAGS.filter((flag) => !process.execArgv.includes(flag))];
}
