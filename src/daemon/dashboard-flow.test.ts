/**
 * The first version's dashboard flow (src/http/testing/first-version-dashboard-flow.ts)
 * against the real daemon (`dyncluster run --sim` on the API test's scenario,
 * a token): every request it makes, in order, answers with the status code
 * and the shape (field names, types, numeric state codes) its dashboard
 * reads; an error is `{"error": "..."}` whose message reads well on its own
 * in the dashboard's alert (no braces, names what was wrong).
 */
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FIRST_VERSION_DASHBOARD_FLOW, shapeProblems } from "../http/testing/first-version-dashboard-flow.ts"
import { NodeState } from "../model/types.ts"
import { startDyncluster, type Daemon } from "./testing/process.ts"

const SCENARIO = fileURLToPath(new URL("./fixtures/api.yaml", import.meta.url))
const TOKEN = "flow-test-token-51c2e8"
const RESOURCE = "os"
const json = (line: string): Record<string, unknown> => {
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return {}
  }
}

describe("the first version's dashboard flow against dyncluster run --sim", () => {
  let daemon: Daemon
  let url = ""
  beforeAll(async () => {
    daemon = startDyncluster(["run", "--sim", SCENARIO, "--speed", "20", "--port", "0", "--log-format", "json"], { DYNCLUSTER_TOKEN: TOKEN })
    url = json(await daemon.waitForLine((l) => json(l).url !== undefined, 120_000)).url as string
  }, 150_000)
  afterAll(() => daemon?.kill("SIGKILL"))

  it("answers every request with the status and shape the first version's dashboard reads", async () => {
    const get = async (path: string) => (await fetch(url + path)).json() as Promise<any>
    // an Idle node of the resource, once the short jobs are placed (only the two that never fit os stay queued)
    let node: string | undefined
    for (let i = 0; i < 600 && node === undefined; i++) {
      const jobs: Array<any> = await get("/job")
      const idle: Array<any> = await get(`/workernode?state=${NodeState.Idle}`)
      node = jobs.length <= 2 ? idle.find((n) => n.instance?.cloud_resource === RESOURCE)?.hostname : undefined
      if (node === undefined) await new Promise((r) => setTimeout(r, 200))
    }
    expect(node, "an Idle node of resource os within 2 minutes").toBeDefined()

    for (const step of FIRST_VERSION_DASHBOARD_FLOW) {
      const path = step.path.replaceAll("{node}", node!).replaceAll("{resource}", RESOURCE)
      const what = `${step.method} ${path} (${step.why})`
      if (step.afterNodeState !== undefined) {
        let state: unknown
        for (let i = 0; i < 300 && state !== step.afterNodeState; i++) {
          state = (await get(`/workernode/${node}`)).state
          if (state !== step.afterNodeState) await new Promise((r) => setTimeout(r, 100))
        }
        expect(state, `${what}: the node's state before it`).toBe(step.afterNodeState)
      }
      if (step.afterResourceRoom === true) {
        let r: any
        for (let i = 0; i < 300 && !(r?.current_num < r?.max_num); i++) {
          r = await get(`/resource/${RESOURCE}`)
          if (!(r.current_num < r.max_num)) await new Promise((res) => setTimeout(res, 100))
        }
        expect(r.current_num, `${what}: room on the resource before it`).toBeLessThan(r.max_num)
      }
      const res = await fetch(url + path, { method: step.method, headers: step.method === "GET" ? {} : { authorization: `Bearer ${TOKEN}` } })
      const text = await res.text()
      expect(res.status, `${what}: ${text}`).toBe(step.status)
      expect(res.headers.get("content-type"), what).toMatch(/^application\/json\b/)
      const body = JSON.parse(text) as unknown
      expect(shapeProblems(body, step.shape), what).toEqual([])
      if (step.status >= 400) {
        // the dashboard shows the message alone: a sentence, not JSON or a stack
        expect(Object.keys(body as object), what).toEqual(["error"])
        const message = (body as { error: string }).error
        expect(message, what).not.toMatch(/[{}]|\bat .*:\d+|Error:|undefined|\[object/)
        expect(message.length, what).toBeGreaterThan(10)
        expect(message, what).toContain(step.names!)
      }
    }
  }, 240_000)

  it("checks shapes strictly: a wrong type, a missing field and an unknown state code are each reported with their path", () => {
    const step = FIRST_VERSION_DASHBOARD_FLOW.find((s) => s.path === "/workernode")!
    const node = { hostname: "n1", type: "simulated", num_proc: 2, state: 9, state_start_time: 0, time_in_current_state: "1", jobs: null, instance: null, extra_attributes: 3 }
    expect(shapeProblems([node], step.shape)).toEqual([
      "$[0].state: expected one of the codes 0, 1, 2, 3, 4, 5, 6, 7, got 9",
      "$[0].time_in_current_state: expected number, got string",
      "$[0].extra_attributes: matches none of its shapes ($[0].extra_attributes: expected object, got number; $[0].extra_attributes: expected null, got number)"
    ])
  })
})
