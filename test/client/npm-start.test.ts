/**
 * What a new user runs: `npm start` (the real entry point) prints its dev orchestrator, discovery
 * finds it with no flags, and the example gateway, given only the signer's URL, pays it.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { runGateway } from "../../examples/gateway.js";
import { startNpm, type NpmStart } from "../support/npm-start.js";

let signer: NpmStart;

beforeAll(async () => {
  signer = await startNpm(["-httpAddr", "127.0.0.1:0", "-logLevel", "warn", "-devOrchestrators", "2"]);
}, 120_000);

afterAll(() => signer?.stop(), 20_000);

const lines = (label: string) => [...signer.banner().matchAll(new RegExp(`${label}:\\s+(\\S+)`, "g"))].map((m) => m[1]!);
const line = (label: string) => lines(label)[0];

test("discovery finds the dev orchestrator and the example gateway pays it", async () => {
  const signerUrl = line("serving")!;
  const orchestratorUrl = line("orchestrator")!;
  expect(orchestratorUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  // The README's discovery example: the first snapshot is built in the background at start.
  let body: { address: string }[] = [];
  for (let i = 0; i < 100 && body.length === 0; i++) {
    const res = await fetch(`${signerUrl}/discover-orchestrators?caps=live-video-to-video/streamdiffusion`);
    if (res.status === 200) body = (await res.json()) as { address: string }[];
    else await new Promise((r) => setTimeout(r, 100));
  }
  const orchestrators = lines("orchestrator");
  expect(orchestrators).toHaveLength(2);
  expect(body.map((o) => o.address).sort()).toEqual([...orchestrators].sort());
  // -devOrchestrators 2: the second also offers comfystream, at 2 wei per unit.
  const comfy = (await (await fetch(`${signerUrl}/discover-orchestrators?caps=live-video-to-video/comfystream`)).json()) as { address: string }[];
  expect(comfy.map((o) => o.address)).toEqual([orchestrators[1]]);

  const results = await runGateway({ signerUrl, cycles: 3, intervalMs: 200 });
  expect(results.map((r) => r.kind)[0]).toBe("pay");
  expect(results.every((r) => r.kind === "pay" || r.kind === "nothing-due")).toBe(true);
});
