/**
 * A resource's back-off after failed boots (docs/clouds.md "Failures and
 * back-off"): 30 s doubling up to 10 min, longer when the cloud says when
 * to come back. A decision that starts several boots which all fail is one
 * failure, not several (issue 20, finding 5: two boots failing in the same
 * decision gave +30 s then +60 s, 51 ms apart).
 */
export const BACKOFF_BASE = 30
export const BACKOFF_CAP = 600

export interface BackoffState {
  /** Until when (seconds) this resource is not booted from after failures. */
  backoffUntil: number
  /** Failed decisions in a row (0 after a boot succeeds). */
  failures: number
  /** The decision whose failure was counted last (-1: none). */
  failedDecision: number
}

/** A boot started by decision `decision` failed at `now`. */
export const bootFailed = (r: BackoffState, now: number, decision: number, retryAfter?: number): void => {
  if (r.failedDecision !== decision) {
    r.failures++
    r.failedDecision = decision
  }
  const d = Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (r.failures - 1))
  r.backoffUntil = Math.max(r.backoffUntil, now + Math.max(d, retryAfter ?? 0))
}

/** A boot succeeded: the resource is healthy again. */
export const bootSucceeded = (r: BackoffState): void => {
  r.failures = 0
  r.backoffUntil = 0
  r.failedDecision = -1
}
