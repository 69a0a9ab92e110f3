/**
 * The requests the first version's web dashboard (its `html/` folder) makes,
 * in the order an operator's session makes them, with the answer shapes it
 * relies on (../shared/seed/restapi.md): status code, field names and types,
 * numeric state codes. Data only (not the dashboard's code); the test
 * src/http/dashboard-flow.test.ts runs it against the real HTTP app over a
 * simulated engine. `{node}` is an Idle worker node, `{resource}` a cloud
 * resource that can launch one more node.
 */

/** A JSON value's expected shape. */
export type Shape =
  | "string"
  | "number"
  | "boolean"
  | "null"
  | "object"
  | "any"
  | { readonly oneOf: ReadonlyArray<Shape> }
  | { readonly codes: ReadonlyArray<number> }
  | { readonly arrayOf: Shape }
  | { readonly fields: Readonly<Record<string, Shape>> }

export interface FlowStep {
  readonly method: "GET" | "PUT" | "DELETE"
  readonly path: string
  readonly status: number
  readonly shape: Shape
  /** What the step stands for in the first version's dashboard. */
  readonly why: string
  /**
   * Sent once GET /workernode/{node} shows this state code (the operator
   * clicks after the table has refreshed: hold goes through Holding, 6, to Held, 7).
   */
  readonly afterNodeState?: number
  /** Sent once GET /resource/{resource} shows current_num below max_num (the removed node is gone). */
  readonly afterResourceRoom?: true
  /** An error answer: what its message must name (the dashboard shows it alone in an alert). */
  readonly names?: string
}

const nullable = (s: Shape): Shape => ({ oneOf: [s, "null"] })
const NODE_STATES = [0, 1, 2, 3, 4, 5, 6, 7]

export const WORKER_NODE: Shape = {
  fields: {
    hostname: "string",
    type: "string",
    num_proc: "number",
    state: { codes: NODE_STATES },
    state_start_time: "number",
    time_in_current_state: "number",
    jobs: "any",
    // null for a node the batch system does not report yet (and for simulated nodes)
    extra_attributes: nullable("object"),
    instance: nullable({
      fields: {
        uuid: nullable("string"),
        instance_name: nullable("string"),
        cloud_resource: "string",
        state: { codes: [0, 1, 2, 3, 4, 5] },
        ip: nullable("string"),
        dns_name: nullable("string"),
        vcpu_number: "number",
        creation_time: "number",
        tasked: "boolean",
        last_task_result: "number"
      }
    })
  }
}

export const JOB: Shape = {
  fields: {
    jobid: "string",
    name: nullable("string"),
    owner: nullable("string"),
    queue: nullable("string"),
    account: nullable("string"),
    property: nullable("string"),
    priority: "number",
    state: { codes: [0, 1, 2, 3] },
    requested_cores: "number",
    cores_per_node: "number",
    requested_walltime: nullable("string"),
    creation_time: "any",
    extra_attributes: nullable("object")
  }
}

export const RESOURCE: Shape = {
  fields: {
    name: "string",
    type: "string",
    priority: "number",
    flag: "number",
    min_num: "number",
    max_num: "number",
    current_num: "number",
    cores_per_node: "number",
    proposed_allocation: "any",
    reservation_queue: nullable("string"),
    reservation_account: nullable("string"),
    reservation_property: nullable("string"),
    config: "object",
    worker_nodes: { arrayOf: WORKER_NODE }
  }
}

const SUCCESS: Shape = { fields: { success: "boolean" } }
const ERROR: Shape = { fields: { error: "string" } }

export const FIRST_VERSION_DASHBOARD_FLOW: ReadonlyArray<FlowStep> = [
  { method: "GET", path: "/workernode", status: 200, shape: { arrayOf: WORKER_NODE }, why: "worker node table" },
  { method: "GET", path: "/job", status: 200, shape: { arrayOf: JOB }, why: "job table" },
  { method: "GET", path: "/resource", status: 200, shape: { arrayOf: RESOURCE }, why: "resource table" },
  {
    method: "GET",
    path: "/server/config",
    status: 200,
    shape: { fields: { "dynamic-cluster": "object", cluster: "object", cloud: "object" } },
    why: "configuration view (the file as written)"
  },
  {
    method: "GET",
    path: "/server/status",
    status: 200,
    shape: { fields: { auto_mode: "boolean", cluster: "object" } },
    why: "auto mode switch and cluster health"
  },
  { method: "GET", path: "/server/queues", status: 200, shape: { fields: { tasks: "number", results: "number" } }, why: "task queue counters" },
  { method: "DELETE", path: "/server/auto", status: 200, shape: SUCCESS, why: "auto mode off" },
  { method: "PUT", path: "/workernode/{node}/hold", status: 200, shape: SUCCESS, why: "Hold button" },
  { method: "PUT", path: "/workernode/{node}/unhold", status: 200, shape: SUCCESS, afterNodeState: 7, why: "Unhold button" },
  { method: "PUT", path: "/workernode/{node}/vacate", status: 200, shape: SUCCESS, why: "Vacate button" },
  { method: "PUT", path: "/workernode/{node}/hold", status: 200, shape: SUCCESS, why: "Hold before Remove" },
  { method: "DELETE", path: "/workernode/{node}", status: 200, shape: SUCCESS, afterNodeState: 7, why: "Remove button" },
  { method: "PUT", path: "/resource/{resource}/freeze", status: 200, shape: SUCCESS, why: "Freeze button" },
  { method: "PUT", path: "/resource/{resource}/restore", status: 200, shape: SUCCESS, why: "Restore button" },
  { method: "PUT", path: "/resource/{resource}?num=1", status: 200, shape: SUCCESS, afterResourceRoom: true, why: "Launch with a number" },
  { method: "PUT", path: "/resource/{resource}/drain", status: 200, shape: SUCCESS, why: "Drain button" },
  { method: "PUT", path: "/resource/{resource}/restore", status: 200, shape: SUCCESS, why: "Restore after drain" },
  { method: "PUT", path: "/server/auto", status: 200, shape: SUCCESS, why: "auto mode on" },
  { method: "GET", path: "/server/status", status: 200, shape: { fields: { auto_mode: "boolean", cluster: "object" } }, why: "auto mode shown again" },
  // what the dashboard shows in its alert when an action is refused
  { method: "PUT", path: "/workernode/ghost.example/hold", status: 404, shape: ERROR, names: "ghost.example", why: "an unknown node" },
  { method: "PUT", path: "/workernode/{node}/reboot", status: 404, shape: ERROR, names: "reboot", why: "an unknown node action" },
  { method: "DELETE", path: "/workernode/ghost.example", status: 404, shape: ERROR, names: "ghost.example", why: "removing an unknown node" },
  { method: "PUT", path: "/resource/{resource}?num=999", status: 400, shape: ERROR, names: "999", why: "launching beyond the resource's max" },
  { method: "PUT", path: "/resource/{resource}?num=two", status: 400, shape: ERROR, names: "num", why: "a number that is not one" },
  { method: "PUT", path: "/resource/ghost/freeze", status: 404, shape: ERROR, names: "ghost", why: "an unknown resource" },
  { method: "PUT", path: "/resource/{resource}/melt", status: 404, shape: ERROR, names: "melt", why: "an unknown resource action" },
  { method: "GET", path: "/job/no-such-job", status: 404, shape: ERROR, names: "no-such-job", why: "an unknown job" }
]

/** Where `value` differs from `shape`: one line per difference, naming the path. */
export const shapeProblems = (value: unknown, shape: Shape, path = "$"): Array<string> => {
  const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value
  if (shape === "any") return []
  if (typeof shape === "string") return kind === shape ? [] : [`${path}: expected ${shape}, got ${kind}`]
  if ("oneOf" in shape) {
    const each = shape.oneOf.map((s) => shapeProblems(value, s, path))
    return each.some((p) => p.length === 0) ? [] : [`${path}: matches none of its shapes (${each.map((p) => p[0]).join("; ")})`]
  }
  if ("codes" in shape) return typeof value === "number" && shape.codes.includes(value) ? [] : [`${path}: expected one of the codes ${shape.codes.join(", ")}, got ${JSON.stringify(value)}`]
  if ("arrayOf" in shape) return Array.isArray(value) ? value.flatMap((v, i) => shapeProblems(v, shape.arrayOf, `${path}[${i}]`)) : [`${path}: expected array, got ${kind}`]
  if (kind !== "object") return [`${path}: expected object, got ${kind}`]
  const o = value as Record<string, unknown>
  return Object.entries(shape.fields).flatMap(([k, s]) => (k in o ? shapeProblems(o[k], s, `${path}.${k}`) : [`${path}.${k}: missing`]))
}
