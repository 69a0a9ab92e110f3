/**
 * "Did you mean …?" for a misspelt name: the closest of the known names by
 * edit distance (Levenshtein, a swap of two neighbours counted as one edit),
 * when it is close enough to be a likely typo.
 */

/** Edits (insert, delete, substitute, swap neighbours) that turn `a` into `b`. */
export const editDistance = (a: string, b: string): number => {
  const m = a.length
  const n = b.length
  if (m === 0) return n
  if (n === 0) return m
  // three rows: i-2, i-1, i
  let prev2 = new Array<number>(n + 1).fill(0)
  let prev = Array.from({ length: n + 1 }, (_, j) => j)
  let cur = new Array<number>(n + 1).fill(0)
  for (let i = 1; i <= m; i++) {
    cur[0] = i
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2] + 1)
      cur[j] = d
    }
    ;[prev2, prev, cur] = [prev, cur, prev2]
  }
  return prev[n]
}

/**
 * The known name closest to `name` (case, `-` and `_` ignored), or null when
 * none is within a third of the name's length (at least 1, at most 3 edits).
 */
export const closest = (name: string, known: Iterable<string>): string | null => {
  const norm = (s: string) => s.toLowerCase().replace(/-/g, "_")
  const target = norm(name)
  const limit = Math.min(3, Math.max(1, Math.floor(target.length / 3)))
  let best: string | null = null
  let bestD = Infinity
  for (const k of known) {
    const d = editDistance(target, norm(k))
    if (d < bestD) {
      best = k
      bestD = d
    }
  }
  return bestD <= limit ? best : null
}

/** ` (did you mean max_idle_time?)`, or "" when nothing is close. */
export const didYouMean = (name: string, known: Iterable<string>): string => {
  const c = closest(name, known)
  return c === null ? "" : ` (did you mean ${c}?)`
}
