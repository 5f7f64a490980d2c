/** CPU time and memory of a process tree (a signer and its workers), read from /proc (Linux). */
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function stat(pid: number): { ppid: number; cpuSeconds: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may hold spaces: fields follow the last ")".
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

/** The pid and its descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s) children.set(s.ppid, [...(children.get(s.ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

/** CPU seconds (user + system) used so far by the tree's live processes. */
export function treeCpuSeconds(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) total += stat(pid)?.cpuSeconds ?? 0;
  return total;
}

/** Resident memory of the tree, MiB. */
export function treeRssMiB(root: number): number {
  let kib = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      kib += Number(m?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kib / 1024;
}

/** Open file descriptors of the tree's live processes. */
export function treeFdCount(root: number): number {
  let n = 0;
  for (const pid of processTree(root)) {
    try {
      n += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // gone
    }
  }
  return n;
}

/** The largest RSS of any one process in the tree, MiB. */
export function maxProcessRssMiB(root: number): number {
  let max = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      max = Math.max(max, Number(m?.[1] ?? 0) / 1024);
    } catch {
      // gone
    }
  }
  return max;
}
