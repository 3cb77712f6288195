// The live chart: KV-cache bytes against tokens, one point per stats reading.
// uPlot draws it; this file only decides the series and keeps the points.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import { formatBytes } from "./format.ts";

export interface MemoryPoint {
  tokens: number;
  /** What the engine reports the active configuration holds. */
  active: number;
  f32: number;
  f16: number;
  progressive: number;
  evicting: number;
}

export interface SeriesLabels {
  active: string;
  progressive: string;
  evicting: string;
}

// Order of the y series in uPlot's data, after x (tokens).
const KEYS = ["active", "f32", "f16", "progressive", "evicting"] as const;

export class MemoryChart {
  #target: HTMLElement;
  #plot: uPlot | null = null;
  #points: MemoryPoint[] = [];

  constructor(target: HTMLElement) {
    this.#target = target;
    new ResizeObserver(() => this.#plot?.setSize(this.#size())).observe(target);
  }

  /** Starts an empty chart with these names for the configuration-dependent lines. */
  reset(labels: SeriesLabels): void {
    this.#plot?.destroy();
    this.#points = [];
    const line = (label: string, stroke: string, extra: Partial<uPlot.Series> = {}): uPlot.Series => ({
      label,
      stroke,
      width: 1.5,
      points: { show: false },
      value: (_u, v) => (v == null ? "–" : formatBytes(v)),
      ...extra,
    });
    const opts: uPlot.Options = {
      ...this.#size(),
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      axes: [
        { label: "tokens in the cache", stroke: "#444" },
        { label: "KV-cache bytes", stroke: "#444", size: 70, values: (_u, ticks) => ticks.map(formatBytes) },
      ],
      series: [
        { label: "tokens", value: (_u, v) => (v == null ? "–" : String(v)) },
        line(labels.active, "#c2410c", { width: 3.5 }),
        line("FP32", "#1e3a8a"),
        line("FP16", "#2563eb", { dash: [6, 4] }),
        line(labels.progressive, "#059669", { dash: [2, 3] }),
        line(labels.evicting, "#7c3aed", { dash: [8, 3, 2, 3] }),
      ],
    };
    this.#plot = new uPlot(opts, this.#columns(), this.#target);
    this.#draw();
  }

  // The legend shows the newest reading unless the pointer is over the plot.
  #draw(): void {
    const plot = this.#plot;
    if (!plot) return;
    plot.setData(this.#columns());
    this.#target.dataset.empty = String(this.#points.length === 0);
    if (this.#points.length > 0 && (plot.cursor.left ?? -1) < 0) {
      plot.setLegend({ idx: this.#points.length - 1 });
    }
  }

  /** Adds a reading; a reading at a token count already drawn replaces it. */
  add(point: MemoryPoint): void {
    const last = this.#points.at(-1);
    if (last && last.tokens === point.tokens) this.#points[this.#points.length - 1] = point;
    else if (last && point.tokens < last.tokens) return;  // tokens never shrink within one run
    else this.#points.push(point);
    this.#draw();
  }

  /** The arrays uPlot is drawing now: [tokens, active, f32, f16, progressive, evicting]. */
  plotted(): number[][] {
    return (this.#plot?.data ?? []).map((column) => Array.from(column as ArrayLike<number>));
  }

  seriesLabels(): string[] {
    return (this.#plot?.series ?? []).map((s) => String(s.label ?? ""));
  }

  #columns(): uPlot.AlignedData {
    return [this.#points.map((p) => p.tokens), ...KEYS.map((k) => this.#points.map((p) => p[k]))];
  }

  #size(): { width: number; height: number } {
    const width = Math.max(320, this.#target.clientWidth);
    return { width, height: Math.round(Math.min(380, Math.max(240, width * 0.4))) };
  }
}
