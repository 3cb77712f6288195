// Numbers as people read them.

/** 1536 -> "1.5 KiB"; binary units, because memory is allocated in them. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** 4096 -> "4K", 131072 -> "128K". */
export function formatTokens(tokens: number): string {
  return tokens >= 1024 && tokens % 1024 === 0 ? `${tokens / 1024}K` : String(tokens);
}

export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) && ratio > 0 ? `${ratio.toFixed(2)}x` : "–";
}

export function formatRate(perSecond: number | undefined): string {
  return perSecond && Number.isFinite(perSecond) ? perSecond.toFixed(perSecond >= 100 ? 0 : 1) : "–";
}
