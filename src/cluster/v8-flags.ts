/**
 * V8 flags for the workers (README, Performance):
 * - --single-threaded-gc: each worker has about one core to itself, so V8's parallel GC helpers
 *   could only take time from the other workers, and a pause waiting on a preempted helper grows
 *   (the open-loop p99 at half load fell from 9.5-14.4 to 7.7-8.4 ms in A/B runs on 2 cores);
 * - --no-memory-reducer: V8 runs up to three compacting full GCs, about 8 s apart, whenever it
 *   judges the allocation rate low after a full GC; a busy worker paused 8-17 ms for each.
 */
export const WORKER_V8_FLAGS = ["--single-threaded-gc", "--no-memory-reducer"];

/** This process's exec arguments with the workers' V8 flags added (each once). */
export function workerExecArgv(): string[] {
  return [...process.execArgv, ...WORKER_V8_FLAGS.filter((flag) => !process.execArgv.includes(flag))];
}
