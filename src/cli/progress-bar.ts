/** The text of a progress bar: `[#########---------------------]  30%`. */
export const barText = (fraction: number, width = 30): string => {
  const frac = Number.isFinite(fraction) ? Math.max(0, Math.min(1, fraction)) : 0
  const done = Math.round(frac * width)
  return `[${"#".repeat(done)}${"-".repeat(width - done)}] ${String(Math.floor(frac * 100)).padStart(3)}%`
}
