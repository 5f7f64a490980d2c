// A gateway's payment loop, written only against lpsigner/client (published as @lpsigner/client:
// docs/clients.md). Run it against `npm start`, after pasting the export line its banner prints:
//   npx tsx examples/gateway.ts [signer URL; default $LPSIGNER_URL] [orchestrator URL; default $LPSIGNER_ORCH_URL, else discovered]
import { createSignerClient, getOrchestratorInfo, JobType, PaymentSession, sendPayment, type PaymentResult } from "lpsigner/client/node";

export interface GatewayOptions {
  signerUrl: string;
  /** An orchestrator's service URL; when unset, the first the signer discovers for the capability. */
  orchestratorUrl?: string;
  cycles: number;
  intervalMs: number;
  sleep?: (ms: number) => Promise<void>;
}

export async function runGateway(opts: GatewayOptions): Promise<PaymentResult[]> {
  const signer = createSignerClient({ baseUrl: opts.signerUrl }); // gRPC; or protocol: "connect"
  let url = opts.orchestratorUrl;
  if (!url) {
    const { orchestrators } = await signer.discoverOrchestrators({ caps: ["live-video-to-video/streamdiffusion"] });
    url = orchestrators[0]?.url;
    if (!url) throw new Error("no orchestrator discovered");
  }
  // OrchestratorInfo (price, ticket params, auth token) comes from the orchestrator's own
  // GetOrchestrator call, authenticated with the signer's address and signature.
  const session = new PaymentSession({
    signer,
    orchestrator: await getOrchestratorInfo(url, signer),
    manifestId: `stream-${Date.now()}`,
    type: JobType.LV2V,
    refreshOrchestratorInfo: (orchUrl) => getOrchestratorInfo(orchUrl, signer),
  });
  const results: PaymentResult[] = [];
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let i = 0; i < opts.cycles; i++) {
    const result = await session.next();
    results.push(result);
    if (result.kind === "pay") {
      const sent = await sendPayment(result.orchestratorUrl, result);
      if (!sent.ok) throw new Error(`orchestrator refused the payment: ${sent.status} ${sent.message}`);
      if (sent.info) session.update(sent.info); // fresh ticket params, same auth token
    } else if (result.kind === "refresh-needed" || result.kind === "price-exceeded") {
      break; // pick another orchestrator
    }
    console.log(`cycle ${i}: ${result.kind}${result.kind === "pay" ? ` ${result.numTickets} tickets, fee ${result.fee} wei` : ""}`);
    await sleep(opts.intervalMs);
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [signerUrl = process.env.LPSIGNER_URL, orchestratorUrl = process.env.LPSIGNER_ORCH_URL] = process.argv.slice(2);
  if (!signerUrl) throw new Error("give the signer's URL or set LPSIGNER_URL (npm start prints the export line)");
  await runGateway({ signerUrl, orchestratorUrl, cycles: 10, intervalMs: 1000 });
}
