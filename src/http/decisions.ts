/**
 * The bounded log of the engine's decisions that `GET /server/decisions`
 * serves and `dyncluster_decisions_total` counts (docs/daemon.md). Fed by the
 * engine's `onDecisions` (engine.ts) in the daemon, sim and live mode alike;
 * times are the engine's Clock (simulated time under `run --sim`).
 *
 * Routine polls (`refresh`, `check` with `poll_due`) are counted but not
 * listed. A refusal with the same reason as the last refusal of the same
 * resource and rule (`by`; for refusals naming jobs and no resource: the same
 * cause), with no provision for that resource (`auto_mode_off`: for any
 * resource) in between, is coalesced into
 * that entry: `repeats` grows, `last_t` moves and its numbers (`count`, `jobs`,
 * `jobs_total`, `message`) become the last repeat's, instead of one entry per step.
 */
import { type Decision, decisionText, JOBS_NAMED, type StepDecisions } from "../engine/decisions.ts"

export const DEFAULT_DECISIONS_KEPT = 10_000
export const DEFAULT_DECISIONS_LIMIT = 200
export const MAX_DECISIONS_LIMIT = 10_000
/** Job ids listed per entry (the engine names at most the first 20, and how many in all). */
export const MAX_JOBS_LISTED = JOBS_NAMED

export interface DecisionEntry {
  /** Seconds since the epoch (engine Clock) when the decision was first taken. */
  readonly t: number
  /** When it was last taken (= `t` unless coalesced). */
  last_t: number
  /** How many times it was taken (1 unless coalesced). */
  repeats: number
  readonly kind: Decision["kind"]
  /** null: a refusal about queued jobs that names no resource (`no_matching_resource`, `auto_mode_off`). */
  readonly resource: string | null
  /** Node decisions: the node. */
  readonly hosts?: ReadonlyArray<string>
  /** Resource decisions: how many nodes (a coalesced refusal: its last repeat's; an operator's drain: the nodes it acted on are in `hosts`). */
  count?: number
  /** Queued jobs behind a provision or a refusal (ids; the first MAX_JOBS_LISTED). */
  jobs: ReadonlyArray<string>
  /** How many jobs in all (more than `jobs` lists when `jobs_truncated`). */
  jobs_total: number
  /** Whether `jobs` was cut. */
  jobs_truncated: boolean
  readonly reason: Decision["reason"]
  /** The rule that wanted the refused nodes (refusals of a resource), or "operator" for an operator's action through this API. */
  readonly by?: "min" | "policy" | "operator"
  message: string
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
  /** (`resource` "" for refusals naming no resource.) */
  readonly totals: () => ReadonlyArray<{ readonly kind: string; readonly reason: string; readonly resource: string; readonly value: number }>
}

const listed = (d: Decision): boolean => d.kind !== "refresh" && d.kind !== "check"

/** The jobs a decision names, and how many in all. */
const jobsOf = (d: Decision): { readonly named: ReadonlyArray<string>; readonly total: number } => {
  if (d.kind === "provision" && d.reason === "queued_jobs") return { named: d.jobs ?? [], total: d.jobsTotal }
  if (d.kind === "refuse" && d.jobs !== undefined) return { named: d.jobs, total: d.jobsTotal ?? d.jobs.length }
  return { named: [], total: 0 }
}

const entryOf = (t: number, d: Decision, dryRun: boolean): DecisionEntry => {
  const jobs = jobsOf(d)
  const total = Math.max(jobs.total, jobs.named.length)
  return {
    t,
    last_t: t,
    repeats: 1,
    kind: d.kind,
    resource: d.resource,
    ...("host" in d ? { hosts: [d.host] } : "hosts" in d ? { hosts: d.hosts } : "count" in d ? { count: d.count } : {}),
    jobs: jobs.named.slice(0, MAX_JOBS_LISTED),
    jobs_total: total,
    jobs_truncated: total > Math.min(jobs.named.length, MAX_JOBS_LISTED),
    reason: d.reason,
    ...("by" in d && d.by !== undefined && d.resource !== null ? { by: d.by } : {}),
    message: decisionText(d),
    dry_run: dryRun
  }
}

/** Which open refusal a refusal may be coalesced into: per resource and rule, or per cause for refusals naming no resource. */
const refusalKey = (d: Extract<Decision, { kind: "refuse" }>): string =>
  d.resource !== null ? `${d.resource}\u0000${d.by}` : `\u0000${d.reason}\u0000${d.reason === "no_matching_resource" ? JSON.stringify(d.match) : ""}`

/** `onEntry`: each new entry as it is listed (a coalesced repeat is not a new entry), e.g. for the `--decisions` file. */
export const makeDecisionLog = (maxEntries: number = DEFAULT_DECISIONS_KEPT, dryRun = false, onEntry?: (e: DecisionEntry) => void): DecisionLog => {
  const max = Math.max(1, Math.floor(maxEntries))
  let entries: Array<DecisionEntry> = []
  // The last refusal per resource and rule, while it may still be coalesced into.
  const openRefusals = new Map<string, DecisionEntry>()
  const totals = new Map<string, { kind: string; reason: string; resource: string; value: number }>()
  return {
    record: ({ t, decisions }) => {
      for (const d of decisions) {
        const resource = d.resource ?? ""
        const tk = `${d.kind}\u0000${d.reason}\u0000${resource}`
        const total = totals.get(tk)
        if (total !== undefined) total.value += 1
        else totals.set(tk, { kind: d.kind, reason: d.reason, resource, value: 1 })
        if (!listed(d)) continue
        if (d.kind === "provision") {
          openRefusals.delete(`${d.resource}\u0000min`)
          openRefusals.delete(`${d.resource}\u0000policy`)
          openRefusals.delete(`\u0000auto_mode_off\u0000`)
        }
        if (d.kind === "refuse") {
          const key = refusalKey(d)
          const open = openRefusals.get(key)
          if (open !== undefined && open.reason === d.reason) {
            const now = entryOf(t, d, dryRun)
            open.repeats += 1
            open.last_t = t
            if (now.count !== undefined) open.count = now.count
            open.jobs = now.jobs
            open.jobs_total = now.jobs_total
            open.jobs_truncated = now.jobs_truncated
            open.message = now.message
            continue
          }
          const e = entryOf(t, d, dryRun)
          openRefusals.set(key, e)
          entries.push(e)
          onEntry?.(e)
        } else {
          const e = entryOf(t, d, dryRun)
          entries.push(e)
          onEntry?.(e)
        }
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
