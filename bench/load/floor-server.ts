/**
 * The latency floor of this machine for the open-loop level: a plain Node HTTP server, with the
 * signer's process count (node:cluster workers sharing the port), that spends a given CPU time
 * per call in a busy loop and answers POST /generate-live-payment with a reply shaped as the
 * signer's. Driven by the same client at the same rate, its p99 is what the machine, the kernel
 * and the load client on the same cores give a server that does nothing else. The loop is timed
 * by the process's CPU clock: timed by the wall clock, a loop preempted mid-call ends early, and
 * under the open loop's contention it spent a fifth less CPU than asked.
 *
 * tsx bench/load/floor-server.ts -workers N -workUs US   (prints "serving: http://…")
 */
import cluster from "node:cluster";
import { createServer } from "node:http";
import { workerExecArgv } from "../../src/cluster/v8-flags.js";

const arg = (name: string) => Number(process.argv[process.argv.indexOf(name) + 1]);
const workers = arg("-workers");
const workUs = arg("-workUs");

// About the size of a signer's reply (a one-ticket payment, segment credentials, a state).
const REPLY = Buffer.from(
  `{"payment":"${"A".repeat(560)}","segCreds":"${"B".repeat(240)}","state":{"State":"${"C".repeat(560)}","Sig":"${"D".repeat(88)}"}}\n`,
);

/** CPU time of this process (a floor worker has one busy thread), µs. */
function cpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

function serve(ready: (port: number) => void): void {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const until = cpuUs() + workUs;
      while (cpuUs() < until);
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": REPLY.length });
      res.end(REPLY);
    });
  });
  server.keepAliveTimeout = 5000;
  // Port 0: in a cluster worker, the primary's one shared port (round-robin), as the signer's.
  server.listen(0, "127.0.0.1", () => ready((server.address() as { port: number }).port));
}

if (workers <= 1) {
  serve((port) => console.log(`serving: http://127.0.0.1:${port}`));
} else if (cluster.isPrimary) {
  let listening = 0;
  cluster.on("listening", (_worker, address) => {
    if (++listening === workers) console.log(`serving: http://127.0.0.1:${address.port}`);
  });
  // The signer's workers' V8 flags: the floor differs from the signer in its work alone.
  cluster.setupPrimary({ execArgv: workerExecArgv() });
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  serve(() => {});
}
