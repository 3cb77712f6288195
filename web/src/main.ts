// The demo page: wires the controls to one Engine (which runs in its own
// worker, so nothing here blocks), streams text into the page, and hands
// every stats reading to the chart and the tables.
import { Engine, KvliteError, type ChatMessage, type EngineStats, type Flavour, type KvType, type ModelInfo } from "kvlite";

import "./style.css";
import { renderExtrapolation, renderLayers, type ExtrapolationRow } from "./cache-panel.ts";
import { formatBytes, formatRate, formatRatio } from "./format.ts";
import { cacheFigures, isPlain, type KvPlan, type KvShape } from "./kv-accounting.ts";
import { MemoryChart } from "./memory-chart.ts";
import { DEFAULT_BUDGET, FP32_PLAN, PRESETS, bitsLabel, matchPreset, references } from "./presets.ts";

/** The model that ships with the page (web/public/models), loaded from this origin by URL. */
const DEFAULT_MODEL = { path: "models/kvlite-kjv-q8_0.gguf", name: "kvlite-kjv-q8_0.gguf" };
const KV_TYPES: KvType[] = ["f32", "f16", "q8", "q4", "q3", "q2", "q4_0", "q4t", "q4c", "q4h"];

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  runtime: $("runtime"),
  error: $("error"),
  errorText: $("error-text"),
  loadDefault: $<HTMLButtonElement>("load-default"),
  file: $<HTMLInputElement>("file"),
  loadStatus: $("load-status"),
  loadProgress: $<HTMLProgressElement>("load-progress"),
  loadText: $("load-text"),
  modelInfo: $("model-info"),
  presets: $("presets"),
  presetNote: $("preset-note"),
  kType: $<HTMLSelectElement>("kv-k"),
  vType: $<HTMLSelectElement>("kv-v"),
  window: $<HTMLInputElement>("kv-window"),
  sinks: $<HTMLInputElement>("kv-sinks"),
  eviction: $<HTMLSelectElement>("kv-eviction"),
  budget: $<HTMLInputElement>("kv-budget"),
  pyramid: $<HTMLSelectElement>("kv-pyramid"),
  sliding: $<HTMLInputElement>("kv-sliding"),
  mode: $("mode"),
  prompt: $<HTMLTextAreaElement>("prompt"),
  generate: $<HTMLButtonElement>("generate"),
  stop: $<HTMLButtonElement>("stop"),
  newChat: $<HTMLButtonElement>("new-chat"),
  maxTokens: $<HTMLInputElement>("max-tokens"),
  temperature: $<HTMLInputElement>("temperature"),
  seed: $<HTMLInputElement>("seed"),
  output: $("output"),
  prefillSpeed: $("prefill-speed"),
  decodeSpeed: $("decode-speed"),
  tokenCounts: $("token-counts"),
  ratioF32: $("ratio-f32"),
  ratioF16: $("ratio-f16"),
  bytesNow: $("bytes-now"),
  evictedTotal: $("evicted-total"),
  layers: $("layers"),
  extrapolation: $("extrapolation"),
  extrapolationNote: $("extrapolation-note"),
  dropOverlay: $("drop-overlay"),
};

type Busy = "starting" | "idle" | "loading" | "generating";

// Optional URL parameters: ?threads=N, ?flavour=st|mt to pick the build, and
// ?maxWeightBytes=N to act like a device with less memory (models above N
// bytes of weights are refused before they are read).
const query = new URLSearchParams(location.search);
const pageOptions = {
  threads: query.has("threads") ? Number(query.get("threads")) : undefined,
  flavour: (["st", "mt"] as const).find((f) => f === query.get("flavour")) as Flavour | undefined,
  maxWeightBytes: Number(query.get("maxWeightBytes") ?? 0) || undefined,
};

let engine: Engine | null = null;
let model: ModelInfo | null = null;
let busy: Busy = "starting";
let stopController: AbortController | null = null;
let task: Promise<void> = Promise.resolve();
// Each generation is a run; stats replies of an earlier run are dropped.
let run = 0;
let runPlan: KvPlan | null = null;
let lastStats: EngineStats | null = null;
let statsLog: EngineStats[] = [];
let chat: ChatMessage[] = [];
const chart = new MemoryChart($("chart"));

// ---- Engine ------------------------------------------------------------------

async function startEngine(): Promise<void> {
  try {
    engine = await Engine.create({ threads: pageOptions.threads, flavour: pageOptions.flavour });
  } catch (e) {
    ui.runtime.textContent = "the engine did not start";
    showError(describe(e, "Starting the engine"));
    return;
  }
  ui.runtime.textContent =
    engine.flavour === "mt"
      ? `threaded WebAssembly build, ${engine.threads} threads (this page is cross-origin isolated)`
      : `single-thread WebAssembly build (${crossOriginIsolated ? "chosen" : "this page is not cross-origin isolated, so no threads"})`;
  setBusy("idle");
}

// An "internal" failure may leave the wasm module broken (an out-of-memory
// abort, a crashed worker): start a fresh engine so the page stays usable.
async function restartEngine(): Promise<void> {
  engine?.terminate();
  engine = null;
  model = null;
  renderModel();
  await startEngine();
}

// ---- Errors --------------------------------------------------------------------

function describe(e: unknown, what: string): string {
  if (e instanceof KvliteError) {
    switch (e.code) {
      case "too-large":
        return `${what}: too large for the memory this tab can give it (WebAssembly stops at 4 GiB). ${e.message}` +
          (e.bytesNeeded ? ` (${formatBytes(e.bytesNeeded)})` : "");
      case "bad-model":
        return `${what}: this is not a model kvlite can read (${e.message}).`;
      case "bad-argument":
        return `${what}: the engine refused these settings. ${e.message}`;
      default:
        return `${what}: ${e.message}`;
    }
  }
  return `${what}: ${e instanceof Error ? e.message : String(e)}`;
}

function showError(message: string): void {
  ui.errorText.textContent = message;
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.hidden = true;
  ui.errorText.textContent = "";
}

async function handleFailure(e: unknown, what: string): Promise<void> {
  showError(describe(e, what));
  if (e instanceof KvliteError && e.code === "internal") {
    await restartEngine();
    showError(`${describe(e, what)} The engine was restarted; load a model again.`);
  }
}

// ---- Controls --------------------------------------------------------------------

function setBusy(state: Busy): void {
  busy = state;
  document.body.dataset.busy = state;
  const ready = Boolean(engine) && state === "idle";
  ui.generate.disabled = !ready || !model;
  ui.stop.disabled = state !== "generating" && state !== "loading";
  ui.loadDefault.disabled = !engine || state === "loading" || state === "starting";
  ui.file.disabled = ui.loadDefault.disabled;
}

function int(input: HTMLInputElement, fallback: number): number {
  const n = Math.floor(Number(input.value));
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** The KV configuration the controls describe. */
function currentPlan(): KvPlan {
  const evict = ui.eviction.value === "h2o";
  return {
    kType: ui.kType.value as KvType,
    vType: ui.vType.value as KvType,
    window: int(ui.window, 128),
    sinks: int(ui.sinks, 4),
    eviction: evict ? "h2o" : "none",
    budget: evict ? int(ui.budget, DEFAULT_BUDGET) : 0,
    pyramid: evict ? (ui.pyramid.value as KvPlan["pyramid"]) : "none",
    sliding: ui.sliding.checked,
  };
}

function showPlan(plan: KvPlan): void {
  ui.kType.value = plan.kType;
  ui.vType.value = plan.vType;
  ui.window.value = String(plan.window);
  ui.sinks.value = String(plan.sinks);
  ui.eviction.value = plan.eviction;
  if (plan.eviction !== "none") ui.budget.value = String(plan.budget);
  ui.pyramid.value = plan.pyramid;
  ui.sliding.checked = plan.sliding;
  planChanged();
}

function planChanged(): void {
  const plan = currentPlan();
  const evict = plan.eviction !== "none";
  ui.budget.disabled = !evict;
  ui.pyramid.disabled = !evict;
  const preset = matchPreset(plan);
  for (const input of ui.presets.querySelectorAll<HTMLInputElement>("input")) input.checked = input.value === preset?.id;
  ui.presetNote.textContent = preset ? preset.note : `your settings: ${describePlan(plan)}`;
  renderExtrapolationTable();
}

function describePlan(plan: KvPlan): string {
  if (isPlain(plan)) return "FP32";
  const parts = [`K${bitsLabel(plan.kType)} + V${bitsLabel(plan.vType)}`, `window ${plan.window}`, `sinks ${plan.sinks}`];
  if (plan.eviction !== "none") parts.push(`H2O budget ${plan.budget}`);
  if (plan.pyramid === "fixed") parts.push("PyramidKV");
  if (plan.pyramid === "entropy") parts.push("entropy pyramid");
  if (plan.sliding) parts.push("sliding");
  return parts.join(", ");
}

function planLabel(plan: KvPlan): string {
  return matchPreset(plan)?.label ?? describePlan(plan);
}

function buildControls(): void {
  for (const select of [ui.kType, ui.vType]) {
    for (const t of KV_TYPES) select.add(new Option(t, t));
  }
  ui.budget.value = String(DEFAULT_BUDGET);
  for (const preset of PRESETS) {
    const label = document.createElement("label");
    label.className = "preset";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "preset";
    input.value = preset.id;
    input.addEventListener("change", () => showPlan(preset.plan));
    label.append(input, ` ${preset.label}`);
    ui.presets.append(label);
  }
  for (const el of [ui.kType, ui.vType, ui.window, ui.sinks, ui.eviction, ui.budget, ui.pyramid, ui.sliding]) {
    el.addEventListener("change", planChanged);
  }
  showPlan(FP32_PLAN);
}

// ---- Loading -------------------------------------------------------------------

function renderModel(): void {
  ui.modelInfo.replaceChildren();
  ui.newChat.hidden = !model?.chatTemplate;
  ui.mode.textContent = !model
    ? ""
    : model.chatTemplate
      ? `chat mode (${model.chatTemplate} template)`
      : "completion mode (the model has no chat template)";
  if (!model) return;
  const rows: [string, string][] = [
    ["model", model.name || model.architecture],
    ["layers", String(model.nLayer)],
    ["attention heads", `${model.nHead} query, ${model.nHeadKv} key/value, dimension ${model.headDim}`],
    ["trained context", `${model.nCtxTrain} tokens`],
    ["weights", formatBytes(model.weightBytes)],
  ];
  for (const [k, v] of rows) ui.modelInfo.append(Object.assign(document.createElement("dt"), { textContent: k }),
    Object.assign(document.createElement("dd"), { textContent: v }));
}

function renderExtrapolationTable(): void {
  if (!model) {
    ui.extrapolation.replaceChildren();
    return;
  }
  const rows: ExtrapolationRow[] = [{ label: "FP32", plan: FP32_PLAN }, { label: "FP16" }];
  for (const p of PRESETS.slice(1)) rows.push({ label: p.label + (p.plan.budget ? ` ${p.plan.budget}` : ""), plan: p.plan });
  const plan = currentPlan();
  if (!matchPreset(plan)) rows.push({ label: `your settings: ${describePlan(plan)}`, plan });
  ui.extrapolationNote.textContent =
    `KV-cache memory of ${model.name || "this model"} (${model.nLayer} layers, ${model.nHeadKv} KV heads of ` +
    `dimension ${model.headDim}) if its context were this long; the ratio to FP32 beside each. Eviction budgets are ` +
    `tokens per layer, so an evicting cache stops growing there; PyramidKV moves tokens between layers but keeps the same mean.`;
  renderExtrapolation(ui.extrapolation, model, rows);
}

async function loadModel(input: File | URL, name: string): Promise<void> {
  if (!engine || busy === "loading" || busy === "starting") return;
  stopController?.abort();
  await task;
  task = (async () => {
    setBusy("loading");
    clearError();
    model = null;
    chat = [];
    renderModel();
    renderExtrapolationTable();
    ui.loadStatus.hidden = false;
    ui.loadProgress.value = 0;
    ui.loadText.textContent = `opening ${name}…`;
    const controller = new AbortController();
    stopController = controller;
    const t0 = performance.now();
    try {
      model = await engine!.load(input, {
        name,
        signal: controller.signal,
        maxWeightBytes: pageOptions.maxWeightBytes,
        onProgress: (p) => {
          ui.loadProgress.max = p.total || 1;
          ui.loadProgress.value = p.loaded;
          const verb = p.phase === "download" ? "downloading" : "reading weights";
          ui.loadText.textContent = `${verb}: ${formatBytes(p.loaded)} of ${formatBytes(p.total)}`;
        },
      });
      ui.loadProgress.value = ui.loadProgress.max;
      ui.loadText.textContent = `loaded ${name} in ${((performance.now() - t0) / 1000).toFixed(2)} s`;
    } catch (e) {
      model = null;
      ui.loadProgress.value = 0;
      ui.loadText.textContent = controller.signal.aborted ? "loading stopped" : `could not load ${name}`;
      if (!controller.signal.aborted) await handleFailure(e, `Loading ${name}`);
    } finally {
      stopController = null;
    }
    renderModel();
    renderExtrapolationTable();
    resetReadings();
    setBusy("idle");
  })();
  await task;
}

// ---- Generating ------------------------------------------------------------------

function resetReadings(plan: KvPlan = currentPlan()): void {
  statsLog = [];
  lastStats = null;
  const refs = references(plan);
  chart.reset({ active: `this run: ${planLabel(plan)}`, progressive: refs.progressive.label, evicting: refs.evicting.label });
  renderLayers(ui.layers, undefined);
  for (const el of [ui.ratioF32, ui.ratioF16, ui.bytesNow, ui.evictedTotal, ui.prefillSpeed, ui.decodeSpeed]) el.textContent = "–";
  ui.tokenCounts.textContent = "";
}

function shapeOf(stats: EngineStats): KvShape | null {
  if (!model) return null;
  return { nLayer: model.nLayer, nHeadKv: model.nHeadKv, headDim: model.headDim, nCtx: stats.nCtx ?? model.nCtxTrain };
}

function onStats(stats: EngineStats): void {
  lastStats = stats;
  statsLog.push(stats);
  const g = stats.generation;
  if (g) {
    ui.prefillSpeed.textContent = formatRate(g.promptTokensPerSecond);
    ui.decodeSpeed.textContent = formatRate(g.generateTokensPerSecond);
    ui.tokenCounts.textContent = `${g.promptTokens} prompt + ${g.generatedTokens} generated tokens`;
  }
  const kv = stats.kv;
  const shape = shapeOf(stats);
  if (!kv || !shape || !runPlan || kv.tokensSeen === 0) return;
  const refs = references(runPlan);
  // The entropy pyramid's budgets come from the engine's measurements.
  const budgets = refs.evicting.plan.pyramid === "entropy" ? kv.layers.map((l) => l.budget) : undefined;
  const t = kv.tokensSeen;
  chart.add({
    tokens: t,
    active: kv.usedBytes,
    f32: kv.f32Bytes,
    f16: kv.f16Bytes,
    progressive: cacheFigures(shape, refs.progressive.plan, t).usedBytes,
    evicting: cacheFigures(shape, refs.evicting.plan, t, budgets).usedBytes,
  });
  ui.ratioF32.textContent = formatRatio(kv.f32Bytes / kv.usedBytes);
  ui.ratioF16.textContent = formatRatio(kv.f16Bytes / kv.usedBytes);
  ui.bytesNow.textContent = formatBytes(kv.usedBytes);
  ui.evictedTotal.textContent = String(kv.layers.reduce((a, l) => a + l.evicted, 0));
  renderLayers(ui.layers, kv);
}

// One stats request in flight at a time; pieces that arrive meanwhile ask
// for one more reading when it returns, so the chart keeps up without a
// queue of requests piling onto the worker.
let statsInFlight = false;
let statsWanted = false;

function requestStats(): void {
  if (!engine) return;
  if (statsInFlight) {
    statsWanted = true;
    return;
  }
  statsInFlight = true;
  const forRun = run;
  engine
    .stats()
    .then((s) => forRun === run && onStats(s), () => undefined)
    .finally(() => {
      statsInFlight = false;
      if (statsWanted) {
        statsWanted = false;
        requestStats();
      }
    });
}

function appendTurn(role: string, text: string): HTMLElement {
  const turn = document.createElement("div");
  turn.className = `turn ${role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  turn.append(who, body);
  ui.output.append(turn);
  return body;
}

async function generate(): Promise<void> {
  if (!engine || !model || busy !== "idle") return;
  const prompt = ui.prompt.value;
  const plan = currentPlan();
  run++;
  runPlan = plan;
  setBusy("generating");
  clearError();
  resetReadings(plan);
  const controller = new AbortController();
  stopController = controller;
  const options = {
    maxTokens: Math.max(1, int(ui.maxTokens, 256)),
    temperature: Number(ui.temperature.value) || 0,
    seed: int(ui.seed, 24301),
    kv: { ...plan, attentionStats: true },
    signal: controller.signal,
  };
  let reply = "";
  task = (async () => {
    try {
      let target: HTMLElement;
      let stream: AsyncGenerator<string>;
      if (model!.chatTemplate) {
        chat.push({ role: "user", content: prompt });
        ui.prompt.value = "";  // the next turn is typed afresh; this one is in the transcript
        ui.output.replaceChildren();
        for (const m of chat) appendTurn(m.role, m.content);
        target = appendTurn("assistant", "");
        stream = engine!.chat(chat, options);
      } else {
        await engine!.reset();  // every run starts an empty cache, so the chart starts at the prompt
        ui.output.replaceChildren();
        const shown = document.createElement("span");
        shown.className = "prompt-text";
        shown.textContent = prompt;
        target = document.createElement("span");
        target.className = "generated";
        ui.output.append(shown, target);
        stream = engine!.generate(prompt, options);
      }
      for await (const piece of stream) {
        target.append(piece);  // one text node per piece: the text visibly streams
        reply += piece;
        requestStats();
      }
    } catch (e) {
      if (!controller.signal.aborted) await handleFailure(e, "Generating");
    } finally {
      stopController = null;
      if (model?.chatTemplate && reply) chat.push({ role: "assistant", content: reply });
    }
    // The closing reading: the run's final figures.
    if (engine) {
      try {
        const stats = await engine.stats();
        onStats(stats);
      } catch {
        // the engine was restarted above; nothing to read
      }
    }
    setBusy("idle");
  })();
  await task;
}

// ---- Events ------------------------------------------------------------------------

function pickedFile(file: File | undefined): void {
  if (file) void loadModel(file, file.name);
}

function listen(): void {
  $("error-close").addEventListener("click", clearError);
  ui.loadDefault.addEventListener("click", () =>
    void loadModel(new URL(DEFAULT_MODEL.path, document.baseURI), DEFAULT_MODEL.name));
  ui.file.addEventListener("change", () => {
    pickedFile(ui.file.files?.[0]);
    ui.file.value = "";  // picking the same file again loads it again
  });
  ui.generate.addEventListener("click", () => void generate());
  ui.stop.addEventListener("click", () => stopController?.abort());
  ui.newChat.addEventListener("click", () => {
    chat = [];
    ui.output.replaceChildren();
  });
  ui.prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void generate();
  });

  // Drag and drop anywhere on the page; the counter survives the enter/leave
  // pairs that child elements fire.
  let depth = 0;
  const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes("Files");
  window.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    ui.dropOverlay.hidden = false;
  });
  window.addEventListener("dragover", (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) ui.dropOverlay.hidden = true;
  });
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    ui.dropOverlay.hidden = true;
    pickedFile(e.dataTransfer?.files[0]);
  });
}

// ---- For the end-to-end tests: the page's state, read through window ---------------

const demo = {
  get engine() { return engine; },
  get model() { return model; },
  get busy() { return busy; },
  /** The latest engine.stats() reading of the current run. */
  get stats() { return lastStats; },
  /** Every reading of the current run, in order. */
  get statsLog() { return statsLog; },
  /** The KV plan of the current run, or of the controls before any run. */
  get plan() { return runPlan ?? currentPlan(); },
  /** What the chart draws: [tokens, active, FP32, FP16, progressive, evicting]. */
  chartData: () => chart.plotted(),
  chartLabels: () => chart.seriesLabels(),
  references: () => references(runPlan ?? currentPlan()),
};
export type DemoHandle = typeof demo;
declare global {
  interface Window {
    kvliteDemo: DemoHandle;
  }
}
window.kvliteDemo = demo;

buildControls();
listen();
resetReadings();
setBusy("starting");
void startEngine();
