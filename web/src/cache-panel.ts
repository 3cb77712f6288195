// The two tables under the chart: what each layer of the cache is doing now
// (from engine.stats()), and what each configuration would need at long
// contexts for the loaded model's shapes (from kv-accounting).
import type { KvStats, ModelInfo } from "kvlite";

import { formatBytes, formatRatio, formatTokens } from "./format.ts";
import { cacheFigures, type KvPlan } from "./kv-accounting.ts";
import { FP32_PLAN } from "./presets.ts";

export const EXTRAPOLATION_CONTEXTS = [4096, 16384, 32768, 65536, 131072];

function cell(tag: "td" | "th", text: string, className?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

function table(headers: string[], rows: HTMLElement[][]): HTMLTableElement {
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const h of headers) head.append(cell("th", h));
  const body = t.createTBody();
  for (const cells of rows) body.insertRow().append(...cells);
  return t;
}

function shareBar(share: number): HTMLElement {
  const td = document.createElement("td");
  const track = document.createElement("span");
  track.className = "bar-track";
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.style.width = `${Math.round(share * 100)}%`;
  track.append(bar);
  td.append(track, ` ${(share * 100).toFixed(1)}%`);
  return td;
}

/** One row per layer: tokens held, budget, evictions, attention statistics, bytes. */
export function renderLayers(container: HTMLElement, kv: KvStats | undefined): void {
  if (!kv || kv.layers.length === 0) {
    container.replaceChildren(cell("td", "Generate something to see the cache fill."));
    return;
  }
  const rows = kv.layers.map((l, i) => [
    cell("td", String(i)),
    cell("td", String(l.tokens)),
    cell("td", String(l.compressedTokens)),
    cell("td", l.budget > 0 ? String(l.budget) : "no limit"),
    cell("td", String(l.evicted)),
    cell("td", l.entropyBits.toFixed(2)),
    shareBar(l.recentShare),
    cell("td", formatBytes(l.usedBytes)),
    cell("td", formatRatio(l.f32Bytes / l.usedBytes)),
  ]);
  const t = table(
    ["layer", "tokens held", "compressed", "budget", "evicted", "entropy (bits)", "share on newest 128", "bytes", "vs FP32"],
    rows,
  );
  t.id = "layers-table";
  container.replaceChildren(t);
}

export interface ExtrapolationRow {
  label: string;
  /** Omitted for FP16, which is FP32's figure halved. */
  plan?: KvPlan;
}

/** KV bytes at 4K..128K tokens per configuration, and the ratio to FP32. */
export function renderExtrapolation(container: HTMLElement, model: ModelInfo, rows: ExtrapolationRow[]): void {
  const body = rows.map((row) => {
    const cells = [cell("th", row.label)];
    for (const n of EXTRAPOLATION_CONTEXTS) {
      const shape = { nLayer: model.nLayer, nHeadKv: model.nHeadKv, headDim: model.headDim, nCtx: n };
      const fp32 = cacheFigures(shape, FP32_PLAN, n).usedBytes;
      const bytes = row.plan ? cacheFigures(shape, row.plan, n).usedBytes : fp32 / 2;
      const td = cell("td", formatBytes(bytes));
      const ratio = document.createElement("small");
      ratio.textContent = ` ${formatRatio(fp32 / bytes)}`;
      td.append(ratio);
      cells.push(td);
    }
    return cells;
  });
  const t = table(["configuration", ...EXTRAPOLATION_CONTEXTS.map((n) => `${formatTokens(n)} tokens`)], body);
  t.id = "extrapolation-table";
  container.replaceChildren(t);
}
