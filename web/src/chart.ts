/** A stacked bar chart of payment outcomes per time bucket, drawn as plain SVG (no library). */
import type { ActivityBucket } from "../../gen/livepeer/signer/v1/signer_pb.js";
import { OUTCOMES } from "./outcomes.js";

const SVG = "http://www.w3.org/2000/svg";
const H = 200;
const PAD = { left: 40, right: 8, top: 10, bottom: 22 };

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, parent?: Element) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.appendChild(e);
  return e;
}

/** 0, then 1, 2, 5 × 10^n steps so that the axis has at most 4 lines. */
function niceStep(max: number): number {
  const raw = Math.max(1, max) / 4;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return Math.max(1, m * pow);
  return 10 * pow;
}

function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function drawChart(svg: SVGSVGElement, buckets: ActivityBucket[], bucketSeconds: number): void {
  svg.replaceChildren();
  // Drawn at the element's own width, so text and bars keep their size in any window.
  const W = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 640);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const totals = buckets.map((b) => OUTCOMES.reduce((n, o) => n + Number(b.payments?.[o.key] ?? 0n), 0));
  const step = niceStep(Math.max(0, ...totals));
  const top = step * Math.max(1, Math.ceil(Math.max(0, ...totals) / step));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;

  for (let v = 0; v <= top; v += step) {
    el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }, svg);
    const label = el("text", { x: PAD.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, svg);
    label.textContent = v >= 10_000 ? `${v / 1000}k` : String(v);
  }
  const n = buckets.length;
  if (n === 0) return;
  const slot = plotW / n;
  const barW = Math.max(2, slot * 0.72);
  buckets.forEach((b, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    const g = el("g", { class: "bar" }, svg);
    let base = 0;
    const parts: string[] = [];
    for (const o of OUTCOMES) {
      const v = Number(b.payments?.[o.key] ?? 0n);
      if (v === 0) continue;
      parts.push(`${o.label} ${v}`);
      el("rect", { x, width: barW, y: y(base + v), height: Math.max(1, y(base) - y(base + v)), class: `o-${o.key}` }, g);
      base += v;
    }
    // A full-height transparent target so every bucket has a tooltip, even an empty one.
    el("rect", { x: PAD.left + i * slot, width: slot, y: PAD.top, height: plotH, class: "hit" }, g);
    const start = Number(b.start?.seconds ?? 0n) * 1000;
    const title = el("title", {}, g);
    title.textContent = `${clock(start)} – ${clock(start + bucketSeconds * 1000)}: ${parts.length ? parts.join(", ") : "no calls"}; ${b.ticketsSigned} tickets`;
  });
  // x labels: one per minute back from now (every other minute when narrow).
  const perMinute = Math.round(60 / bucketSeconds) * (W < 420 ? 2 : 1);
  for (let i = n - 1, k = 0; i >= 0; i -= perMinute, k++) {
    const label = el("text", { x: PAD.left + (i + 0.5) * slot, y: H - 6, class: "axis", "text-anchor": "middle" }, svg);
    label.textContent = k === 0 ? "now" : `−${(k * perMinute * bucketSeconds) / 60} min`;
  }
}
