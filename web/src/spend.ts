/**
 * Spend over the last hour by auth id and by orchestrator, from the signer's usage events
 * (GetSpend, polled every 10 s). Hidden when the signer writes no events.
 */
import type { Client } from "@connectrpc/connect";
import type { SignerService, SpendEntry, SpendRest } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { count, wei } from "./format.js";

const POLL_MS = 10_000;
/** Rows shown per table; the rest (with what the signer's list itself leaves out) are summed into one line. */
const TOP = 10;

function rows(entries: SpendEntry[], more: SpendRest | undefined, none: string, keyName: (key: string) => string): HTMLTableRowElement[] {
  const cell = (text: string, title?: string, cls?: string) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (title) td.title = title;
    if (cls) td.className = cls;
    return td;
  };
  const shown = entries.slice(0, TOP);
  const rest = entries.slice(TOP);
  const out = shown.map((e) => {
    const tr = document.createElement("tr");
    const fee = wei(BigInt(e.feeWei));
    tr.append(cell(keyName(e.key), e.key, "mono"), cell(fee.text, fee.exact), cell(count(e.events).text));
    return tr;
  });
  const moreKeys = BigInt(rest.length) + (more?.keys ?? 0n);
  if (moreKeys > 0n) {
    const tr = document.createElement("tr");
    const fee = wei(rest.reduce((a, e) => a + BigInt(e.feeWei), BigInt(more?.feeWei || "0")));
    const events = rest.reduce((a, e) => a + e.events, more?.events ?? 0n);
    tr.append(cell(`${count(moreKeys).text} more`, undefined, "muted"), cell(fee.text, fee.exact), cell(count(events).text));
    out.push(tr);
  }
  if (out.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(none, undefined, "muted");
    td.colSpan = 3;
    tr.append(td);
    out.push(tr);
  }
  return out;
}

export function watchSpend(client: Client<typeof SignerService>): void {
  const section = document.getElementById("spend")!;
  const byAuth = document.getElementById("spend-auth")!;
  const byOrch = document.getElementById("spend-orch")!;
  const poll = async () => {
    try {
      const s = await client.getSpend({ windowSeconds: 3600 });
      section.hidden = !s.eventsEnabled;
      if (s.eventsEnabled) {
        byAuth.replaceChildren(...rows(s.byAuthId, s.moreByAuthId, "no payments in the last hour", (k) => k || "(none)"));
        byOrch.replaceChildren(...rows(s.byOrchestrator, s.moreByOrchestrator, "no payments in the last hour", (k) => `${k.slice(0, 8)}…${k.slice(-4)}`));
      }
    } catch {
      // The activity stream reports the connection; the next poll tries again.
    }
    setTimeout(() => void poll(), POLL_MS);
  };
  void poll();
}
