/**
 * The bounded log of the engine's decisions that `GET /server/decisions`
 * serves and `dyncluster_decisions_total` counts (docs/daemon.md). Fed by the
 * engine's `onDecisions` (engine.ts) in the daemon, sim and live mode alike;
 * times are the engine's Clock (simulated time under `run --sim`).
 *
 * Routine polls (`refresh`, `check` with `poll_due`) are counted but not
 * listed. A refusal identical to the last refusal of the same resource
 * (same `by`, `reason`, `count`, no provision in between) is coalesced into
 * that entry: `repeats` grows and `last_t` moves, instead of one entry per step.
 */
import { type Decision, decisionText, type StepDecisions } from "../engine/decisions.ts"

export const DEFAULT_DECISIONS_KEPT = 10_000
export const DEFAULT_DECISIONS_LIMIT = 200
export const MAX_DECISIONS_LIMIT = 10_000
/** Job ids listed per entry (the engine passes at most the first 20). */
export const MAX_JOBS_LISTED = 20

export interface DecisionEntry {
  /** Seconds since the epoch (engine Clock) when the decision was first taken. */
  readonly t: number
  /** When it was last taken (= `t` unless coalesced). */
  last_t: number
  /** How many times it was taken (1 unless coalesced). */
  repeats: number
  readonly kind: Decision["kind"]
  readonly resource: string
  /** Node decisions: the node. */
  readonly hosts?: ReadonlyArray<string>
  /** Resource decisions: how many nodes. */
  readonly count?: number
  /** Queued jobs behind a provision (ids; at most MAX_JOBS_LISTED). */
  readonly jobs: ReadonlyArray<string>
  /** Whether `jobs` was cut. */
  readonly jobs_truncated: boolean
  readonly reason: Decision["reason"]
  /** The rule that wanted the refused nodes (refusals only). */
  readonly by?: "min" | "policy"
  readonly message: string
  readonly dry_run: boolean
}

/** The body of GET /server/decisions. */
export interface DecisionsAnswer {
  readonly max_entries: number
  /** Oldest first (by `t`); with `since`, the entries last taken at or after it; at most `limit`, the newest. */
  readonly decisions: ReadonlyArray<DecisionEntry>
}

export interface DecisionLog {
  readonly record: (step: StepDecisions) => void
  readonly answer: (q?: { readonly since?: number | undefined; readonly limit?: number | undefined }) => DecisionsAnswer
  /** Decisions taken since start, per kind, reason and resource (routine polls included). */
  readonly totals: () => ReadonlyArray<{ readonly kind: string; readonly reason: string; readonly resource: string; readonly value: number }>
}

const listed = (d: Decision): boolean => d.kind !== "refresh" && d.kind !== "check"

const entryOf = (t: number, d: Decision, dryRun: boolean): DecisionEntry => {
  const jobs = d.kind === "provision" && d.reason === "queued_jobs" ? (d.jobs ?? []) : []
  return {
    t,
    last_t: t,
    repeats: 1,
    kind: d.kind,
    resource: d.resource,
    ...("host" in d ? { hosts: [d.host] } : { count: d.count }),
    jobs: jobs.slice(0, MAX_JOBS_LISTED),
    jobs_truncated: jobs.length > MAX_JOBS_LISTED,
    reason: d.reason,
    ...(d.kind === "refuse" ? { by: d.by } : {}),
    message: decisionText(d),
    dry_run: dryRun
  }
}

export const makeDecisionLog = (maxEntries: number = DEFAULT_DECISIONS_KEPT, dryRun = false): DecisionLog => {
  const max = Math.max(1, Math.floor(maxEntries))
  let entries: Array<DecisionEntry> = []
  // The last refusal per resource and rule, while it may still be coalesced into.
  const openRefusals = new Map<string, DecisionEntry>()
  const totals = new Map<string, { kind: string; reason: string; resource: string; value: number }>()
  return {
    record: ({ t, decisions }) => {
      for (const d of decisions) {
        const tk = `${d.kind}\u0000${d.reason}\u0000${d.resource}`
        const total = totals.get(tk)
        if (total !== undefined) total.value += 1
        else totals.set(tk, { kind: d.kind, reason: d.reason, resource: d.resource, value: 1 })
        if (!listed(d)) continue
        if (d.kind === "provision") {
          openRefusals.delete(`${d.resource}\u0000min`)
          openRefusals.delete(`${d.resource}\u0000policy`)
        }
        if (d.kind === "refuse") {
          const key = `${d.resource}\u0000${d.by}`
          const open = openRefusals.get(key)
          if (open !== undefined && open.reason === d.reason && open.count === d.count) {
            open.repeats += 1
            open.last_t = t
            continue
          }
          const e = entryOf(t, d, dryRun)
          openRefusals.set(key, e)
          entries.push(e)
        } else entries.push(entryOf(t, d, dryRun))
      }
      // Trimmed in batches, so a full log costs no copy per step.
      if (entries.length > max + Math.ceil(max / 8)) {
        const dropped = entries.slice(0, entries.length - max)
        entries = entries.slice(entries.length - max)
        for (const e of dropped) if (e.kind === "refuse") for (const [k, v] of openRefusals) if (v === e) openRefusals.delete(k)
      }
    },
    answer: (q = {}) => {
      const limit = Math.min(q.limit ?? DEFAULT_DECISIONS_LIMIT, max)
      const since = q.since
      const out: Array<DecisionEntry> = []
      const from = Math.max(0, entries.length - max)
      // Newest first while collecting, so `limit` keeps the newest; then oldest first.
      for (let i = entries.length - 1; i >= from && out.length < limit; i--) {
        const e = entries[i]
        if (since === undefined || e.last_t >= since) out.push({ ...e })
      }
      return { max_entries: max, decisions: out.reverse() }
    },
    totals: () => [...totals.values()].map((v) => ({ ...v }))
  }
}
