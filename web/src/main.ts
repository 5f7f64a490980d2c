/**
 * The operator dashboard: two server streams from this signer over gRPC-web (same origin, so
 * the default no-cross-origin policy applies), rendered into the static page. Plain DOM updates
 * of fixed elements: nothing is built from strings, so the strict CSP needs no exceptions.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  SignerService,
  type WatchOrchestratorsResponse,
  type WatchSignerActivityResponse,
} from "../../gen/livepeer/signer/v1/signer_pb.js";
import { drawChart } from "./chart.js";
import { OUTCOMES, windowTotals } from "./outcomes.js";
import { count, duration, latencyPair, networkName, ratio, wei, type Shown } from "./format.js";
import { watchSpend } from "./spend.js";

const client: Client<typeof SignerService> = createClient(
  SignerService,
  createGrpcWebTransport({ baseUrl: window.location.origin }),
);

function field(name: string): HTMLElement {
  const e = document.querySelector<HTMLElement>(`[data-field="${name}"]`);
  if (!e) throw new Error(`no field ${name}`);
  return e;
}

function show(name: string, value: string | Shown, title?: string): void {
  const e = field(name);
  const text = typeof value === "string" ? value : value.text;
  const tip = typeof value === "string" ? title : value.exact;
  if (e.textContent !== text) e.textContent = text;
  if (tip) e.title = tip;
  else e.removeAttribute("title");
}

// ---- connection state -------------------------------------------------------------------------

const conn = document.getElementById("conn")!;
const offline = document.getElementById("offline")!;

function setOnline(): void {
  conn.dataset.state = "live";
  conn.textContent = "live";
  offline.hidden = true;
  document.body.classList.remove("is-offline");
}

function setOffline(err: unknown, retryMs: number): void {
  conn.dataset.state = "offline";
  conn.textContent = "disconnected";
  const reason = err instanceof Error ? err.message : String(err);
  offline.textContent = `Disconnected from the signer, retrying in ${Math.ceil(retryMs / 1000)} s… (${reason})`;
  offline.hidden = false;
  document.body.classList.add("is-offline");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one server stream for ever: on any end or error, waits (1 s, doubling to 8 s) and
 * reconnects. A snapshot received resets the wait.
 */
async function keepWatching<T>(open: () => AsyncIterable<T>, onMessage: (m: T) => void, onError?: (err: unknown, retryMs: number) => void) {
  let retryMs = 1000;
  for (;;) {
    try {
      for await (const m of open()) {
        retryMs = 1000;
        onMessage(m);
      }
      throw new Error("stream ended");
    } catch (err) {
      onError?.(err, retryMs);
      await sleep(retryMs);
      retryMs = Math.min(8000, retryMs * 2);
    }
  }
}

// ---- activity ---------------------------------------------------------------------------------

const legend = document.getElementById("legend")!;
const legendCounts = new Map<string, HTMLElement>();
for (const o of OUTCOMES) {
  const li = document.createElement("li");
  li.dataset.outcome = o.key;
  const swatch = document.createElement("span");
  swatch.className = `swatch o-${o.key}`;
  const label = document.createElement("span");
  label.textContent = o.label;
  const n = document.createElement("strong");
  n.className = "count";
  n.textContent = "0";
  li.append(swatch, label, n);
  legend.append(li);
  legendCounts.set(o.key, n);
}

/** Where the key is, as GetSignerStatus.key_backend names it. */
const KEY_BACKENDS: Record<string, string> = {
  keystore: "keystore (in the signer's memory)",
  pkcs11: "PKCS#11 HSM",
  kms: "AWS KMS",
  jsonrpc: "JSON-RPC signer",
};

/** A feed answer as a decimal rate (answer / 10^decimals), two places. */
function rate(answer: string, decimals: number): string {
  return (Number(answer) / 10 ** decimals).toLocaleString(undefined, { maximumFractionDigits: 2 });
}

let discoveryStarted = false;
let lastActivity: WatchSignerActivityResponse | undefined;
const chart = document.getElementById("chart") as unknown as SVGSVGElement;
new ResizeObserver(() => lastActivity && drawChart(chart, lastActivity.buckets, lastActivity.bucketSeconds)).observe(chart);

function renderActivity(a: WatchSignerActivityResponse): void {
  setOnline();
  const st = a.status;
  const chain = st?.chain;
  const limits = st?.limits;
  show("version", st ? `v${st.version}` : "");
  show("address", st?.addressHex ?? "—");
  show("keyBackend", st ? (KEY_BACKENDS[st.keyBackend || "keystore"] ?? st.keyBackend) : "—");
  show("network", chain ? networkName(chain.chainId, chain.devChain) : "—", chain?.ethUrl || undefined);
  show(
    "webhook",
    limits?.webhookConfigured ? "on" : "off",
    limits?.webhookConfigured ? "every payment is authorized by the webhook" : "no webhook: any caller that reaches this port can spend",
  );
  field("webhook").classList.toggle("warn-text", !limits?.webhookConfigured);
  const feed = limits?.priceFeed;
  const usdCeiling = !!limits?.maxPriceCurrency;
  if (usdCeiling && !limits?.maxPricePerUnit) {
    // A USD ceiling with no usable rate: nothing is in force, payments under it are refused.
    show("maxPrice", `${limits!.maxPriceCurrency} ceiling: no usable rate`, `configured ${limits!.configuredMaxPricePerUnit} ${limits!.maxPriceCurrency} per unit`);
  } else {
    show("maxPrice", limits?.maxPricePerUnit ? wei(limits.maxPricePerUnit) : "none", limits?.maxPricePerUnit ? undefined : "no -maxPricePerUnit");
    if (limits?.maxPricePerUnit) field("maxPrice").textContent += ` / unit${usdCeiling ? ` (${limits!.maxPriceCurrency})` : ""}`;
    if (usdCeiling) field("maxPrice").title += `; configured ${limits!.configuredMaxPricePerUnit} ${limits!.maxPriceCurrency} per unit, at the feed's rate`;
  }
  field("maxPrice").classList.toggle("warn-text", usdCeiling && !limits?.maxPricePerUnit);
  show(
    "priceFeed",
    !feed ? "not used" : feed.answer === "" ? "not read" : `${rate(feed.answer, feed.decimals)} ${feed.description}, ${duration(Number(feed.ageMs))} old`,
    feed ? `${feed.address}${feed.problem ? `: ${feed.problem}` : ""}` : "no USD ceiling",
  );
  field("priceFeed").classList.toggle("warn-text", !!feed && !feed.usable);
  const ceilings = limits?.capabilityCeilings ?? [];
  show(
    "capabilityCeilings",
    ceilings.length === 0
      ? "none"
      : ceilings.map((c) => `${c.pipeline || `capability ${c.capability}`}${c.modelId === "default" ? "" : `/${c.modelId}`} ≤ ${wei(c.maxPricePerUnit).text}`).join(", "),
    ceilings.map((c) => `${c.pipeline || c.capability} ${c.modelId}: ${wei(c.maxPricePerUnit).exact} per unit`).join("\n") || "no -maxPricePerCapability",
  );
  show("maxTicketEv", wei(limits?.maxTicketEv ?? ""));
  show("maxTotalEv", wei(limits?.maxTotalEv ?? ""));
  show("depositMultiplier", limits ? String(limits.depositMultiplier) : "—");
  const now = a.time ? timestampDate(a.time).getTime() : Date.now();
  const started = a.started ? timestampDate(a.started).getTime() : now;
  show("uptime", duration(now - started), `since ${new Date(started).toLocaleString()}`);

  show("deposit", wei(chain?.deposit ?? ""));
  show("reserve", wei(chain?.reserve ?? ""));
  show("depositHeadroom", ratio(chain?.deposit ?? "", limits?.maxTotalEv ?? ""));
  show("reserveHeadroom", ratio(chain?.reserve ?? "", limits?.maxTotalEv ?? ""));
  const maxFace = chain?.deposit && limits?.depositMultiplier ? BigInt(chain.deposit) / BigInt(limits.depositMultiplier) : undefined;
  show("maxFaceValue", maxFace === undefined ? "—" : wei(maxFace));
  show("round", chain ? count(chain.round).exact : "—");
  show("block", chain ? count(chain.l1Block).exact : "—");
  show("age", chain ? duration(Number(chain.ageMs)) : "—");
  const stale = document.getElementById("stale")!;
  const problems = [
    ...(chain?.stale ? [`Chain view is stale (${duration(Number(chain.ageMs))} old): payments are refused until it refreshes.`] : []),
    ...(st?.fundingProblem ? [`Funds cannot back tickets (${st.fundingProblem}): payments are refused.`] : []),
    ...(feed && !feed.usable ? [`No usable ETH rate (${feed.problem}): payments under a USD ceiling are refused until the feed updates.`] : []),
  ];
  stale.hidden = problems.length === 0;
  stale.textContent = problems.join(" ");
  field("age").classList.toggle("warn-text", !!chain?.stale);

  // The legend counts what the chart shows (its window); the totals since start go in the tooltip.
  const shown = windowTotals(a.buckets);
  const windowText = `in the last ${Math.round(a.windowSeconds / 60)} min`;
  for (const o of OUTCOMES) {
    const n = count(shown[o.key]);
    const e = legendCounts.get(o.key)!;
    e.textContent = n.text;
    e.title = `${n.exact} ${windowText}; ${count(a.payments?.[o.key] ?? 0n).exact} since start`;
  }
  const perMinute = Math.max(1, Math.round(60 / Math.max(1, a.bucketSeconds)));
  const recent = a.buckets.slice(-perMinute);
  const calls = recent.reduce((s, b) => s + OUTCOMES.reduce((n, o) => n + (b.payments?.[o.key] ?? 0n), 0n), 0n);
  show("callsPerMin", count(calls).text, "GenerateLivePayment calls in the last minute (Connect and legacy)");
  show("tickets", count(a.ticketsSigned));
  show("faceValue", wei(a.faceValueWei));
  show("ev", wei(a.evWei));
  show("sessions", count(a.activeSessions).text, `distinct sessions that called in the last ${duration(a.windowSeconds * 1000)}`);
  show("latency", latencyPair(a.latencyP50Ms, a.latencyP99Ms), `time in the signer over the last ${duration(a.windowSeconds * 1000)}`);
  show("window", `last ${Math.round(a.windowSeconds / 60)} min · ${a.bucketSeconds} s bars`);
  lastActivity = a;
  drawChart(chart, a.buckets, a.bucketSeconds);

  if (a.discoveryEnabled && !discoveryStarted) {
    discoveryStarted = true;
    document.getElementById("discovery")!.hidden = false;
    void keepWatching((/* reconnects */) => client.watchOrchestrators({}), renderDiscovery);
  }
}

// ---- discovery --------------------------------------------------------------------------------

// On a narrow screen the table scrolls sideways: say so, and fade the edges that hide columns.
const tableScroll = document.getElementById("table-scroll")!;
const tableWrap = document.getElementById("table-wrap")!;
const scrollHint = document.getElementById("scroll-hint")!;
function updateScrollHint(): void {
  const hidden = tableWrap.scrollWidth - tableWrap.clientWidth;
  scrollHint.hidden = hidden <= 1;
  tableScroll.classList.toggle("more-left", tableWrap.scrollLeft > 1);
  tableScroll.classList.toggle("more-right", hidden - tableWrap.scrollLeft > 1);
}
tableWrap.addEventListener("scroll", updateScrollHint, { passive: true });
const tableResize = new ResizeObserver(updateScrollHint);
tableResize.observe(tableWrap);
tableResize.observe(tableWrap.querySelector("table")!);

function renderDiscovery(d: WatchOrchestratorsResponse): void {
  const body = document.getElementById("orchestrators")!;
  const rows = d.orchestrators.map((o) => {
    const tr = document.createElement("tr");
    const url = document.createElement("td");
    url.className = "mono";
    url.textContent = o.url;
    url.title = "0x" + Array.from(o.ethAddress, (b) => b.toString(16).padStart(2, "0")).join("");
    const price = document.createElement("td");
    const pi = o.priceInfo;
    const perUnit = pi && pi.pixelsPerUnit > 0n ? wei(`${pi.pricePerUnit}/${pi.pixelsPerUnit}`) : undefined;
    price.textContent = perUnit ? `${perUnit.text} / unit` : "—";
    if (perUnit) price.title = perUnit.exact;
    const caps = document.createElement("td");
    caps.textContent = o.capabilities.map((c) => c.key + (c.pixelsPerUnit > 0n ? ` (${wei(`${c.pricePerUnit}/${c.pixelsPerUnit}`).text})` : "")).join(", ") || "—";
    const seen = document.createElement("td");
    seen.textContent = o.lastSeen ? timestampDate(o.lastSeen).toLocaleTimeString() : "—";
    tr.append(url, price, caps, seen);
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 4;
    td.className = "muted";
    td.textContent = "no orchestrator within the price ceilings yet";
    tr.append(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  updateScrollHint();
  show("discoveryTime", d.snapshotTime ? `snapshot ${timestampDate(d.snapshotTime).toLocaleTimeString()}` : "");
}

void keepWatching(() => client.watchSignerActivity({ intervalMs: 1000 }), renderActivity, setOffline);
watchSpend(client);
