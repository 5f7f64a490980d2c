import type { ChainSnapshot } from "./chain-view.js";

/** Startup WARNING lines when the signer's TicketBroker funds cannot pay for any ticket. */
export function fundingWarnings(snapshot: ChainSnapshot | undefined, signerAddress: string): string[] {
  if (!snapshot) return [];
  const out: string[] = [];
  const { deposit, reserve } = snapshot.sender;
  if (deposit === 0n) out.push(`WARNING: ${signerAddress} has no TicketBroker deposit: payments will fail until it is funded`);
  if (reserve === 0n) out.push(`WARNING: ${signerAddress} has no TicketBroker reserve: payments will fail until it is funded`);
  return out;
}
