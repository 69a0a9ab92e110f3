/**
 * How a cloud bills a node (`cloud.<resource>.billing`, docs/clouds.md
 * "Billing"): by the started second, minute or hour, with a minimum billed
 * time per instance. `{per: second, minimum: 60}` is on-demand Linux on AWS;
 * `{per: hour}` a cloud that bills every started hour. Without a billing
 * setting a node costs its price × the time it existed (per second, no
 * minimum), as before.
 */
import { Schema } from "effect"

export const BillingUnit = Schema.Literal("second", "minute", "hour").annotations({
  message: () => "expected second, minute or hour"
})
export type BillingUnit = typeof BillingUnit.Type

export const Billing = Schema.Struct({
  per: BillingUnit,
  /** Least seconds billed for an instance, however short its life (default 0). */
  minimum: Schema.optional(
    Schema.Number.pipe(Schema.finite(), Schema.nonNegative()).annotations({ message: () => "expected a non-negative number (seconds)" })
  )
})
export type Billing = typeof Billing.Type

export const UNIT_SECONDS: Readonly<Record<BillingUnit, number>> = { second: 1, minute: 60, hour: 3600 }

/** Seconds billed for an instance that existed `life` seconds (`life` itself without a billing model). */
export const billedSeconds = (life: number, b: Billing | null | undefined): number => {
  if (b === null || b === undefined) return life
  const u = UNIT_SECONDS[b.per]
  return Math.max(Math.ceil(life / u) * u, b.minimum ?? 0)
}

/**
 * Seconds from `age` (seconds since the instance was created) until the time
 * already billed runs out: retiring the node earlier saves nothing. 0 without
 * a billing model.
 */
export const paidAhead = (age: number, b: Billing | null | undefined): number =>
  b === null || b === undefined ? 0 : Math.max(0, billedSeconds(age, b) - age)

/**
 * When to retire an idle node (idle since `start`) that the idle rules would
 * retire at `due` (seconds, the clock of `created`, the instance's creation).
 * `margin` is the time from the decision to retire until the instance is gone
 * (hold, removal, destroy). Billed by units longer than `margin` (per hour):
 * a node idle already `margin` before the end of a billed unit, with `due`
 * after it, goes then (the next unit is not bought); one that went idle after
 * that point stays until `margin` before the end of the unit it is in (paid
 * anyway). With shorter units only a billing minimum that runs on past `due`
 * keeps it. Without billing: `due`.
 */
export const retireAt = (created: number, start: number, due: number, margin: number, b: Billing | null | undefined): number => {
  if (b === null || b === undefined) return due
  const ahead = paidAhead(Math.max(0, due - created), b)
  const end = due + ahead
  const U = UNIT_SECONDS[b.per]
  if (U <= margin) return ahead >= margin ? end - margin : due
  const late = end - margin
  if (late < due) return late >= start ? late : late + U
  // the end of the unit before: a point the node was idle at, after its billing minimum
  const before = end - U
  return before > created && before - created >= (b.minimum ?? 0) && before - margin >= start ? before - margin : late
}
