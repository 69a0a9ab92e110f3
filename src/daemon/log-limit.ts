/**
 * Repeated warnings, rate-limited (issue 20, finding 6: while a cloud
 * refused the credentials the engine logged four warnings every poll). A
 * warning or error whose message, numbers aside, was logged less than
 * `windowSeconds` ago (engine time) is counted instead of logged; the next
 * one logged says how many were left out.
 */
import type { EngineLogEvent } from "../engine/engine.ts"

export const REPEAT_WINDOW_SECONDS = 300

export const limitRepeats = (log: (e: EngineLogEvent) => void, windowSeconds = REPEAT_WINDOW_SECONDS): ((e: EngineLogEvent) => void) => {
  const last = new Map<string, { at: number; left: number }>()
  return (e) => {
    if (e.level !== "warn" && e.level !== "error") return log(e)
    const key = `${e.level} ${e.msg.replace(/\d+(\.\d+)?/g, "#")}`
    const prev = last.get(key)
    if (prev !== undefined && e.t - prev.at < windowSeconds) {
      prev.left++
      return
    }
    last.set(key, { at: e.t, left: 0 })
    if (prev === undefined || prev.left === 0) return log(e)
    log({ ...e, msg: `${e.msg} (${prev.left} more like it in the last ${Math.round(e.t - prev.at)} s not logged)` })
  }
}
