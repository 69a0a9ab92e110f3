/**
 * The REST API of ../shared/seed/restapi.md (same paths, field names, numeric
 * codes and status codes), plus GET /server/queues, GET /server/history,
 * GET /server/decisions,
 * GET /metrics and the dashboard. It only reads engine snapshots and calls operator actions; it
 * holds no state of its own.
 *
 * Every response that is not the dashboard page or the metrics text is JSON,
 * errors included (`{"error": "..."}`).
 */
import { createHash, timingSafeEqual } from "node:crypto"
import * as Http from "node:http"
import * as Https from "node:https"
import type { HttpApp } from "@effect/platform"
import { HttpMiddleware, HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeHttpServer } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer, Option, Runtime, type Scope } from "effect"
import { ActionError, statusOf, type EngineApi, type Snapshot, type TaskQueues } from "../engine/api.ts"
import { redactSecrets } from "../model/config.ts"
import { NO_PRIORITY, NodeStateNames, type Job } from "../model/types.ts"
import {
  type BodyCache,
  type BodyTemplate,
  GZIP_MIN_BYTES,
  identityOpener,
  type ListingInputs,
  makeBodyCache,
  makeCoalescer,
  makeTemplateEffect,
  type Opener,
  Rendered,
  slotOpener
} from "./bodyCache.ts"
import type { ReloadOutcome } from "../daemon/reload.ts"
import { renderDashboard } from "./dashboard.ts"
import { type DecisionLog, MAX_DECISIONS_LIMIT } from "./decisions.ts"
import type { NodeHistory } from "./history.ts"
import { type CycleHistogram, METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts"

export interface HttpAppOptions {
  /** Bearer token required for PUT/DELETE (and for GETs with tokenForReads); null = open, as classic. */
  readonly token: string | null
  readonly tokenForReads: boolean
  /** Largest request body accepted (by Content-Length); default 16 KiB. No endpoint reads a body. */
  readonly maxBodyBytes?: number
  /** Longest request target (path + query) accepted; default 4096 characters. */
  readonly maxUrlLength?: number
  /** Engine cycle durations for /metrics; an empty histogram is rendered when absent. */
  readonly cycleHistogram?: CycleHistogram
  /** Dashboard refresh period in seconds (default DEFAULT_DASHBOARD_REFRESH_SECONDS). */
  readonly dashboardRefreshSeconds?: number
  /** Encoded listings reused while the engine state is unchanged (bodyCache.ts); default: a fresh one. Tests pass one to count hits. */
  readonly bodyCache?: BodyCache
  /** Node and core counts over time for GET /server/history (fed by sampleHistory); absent: that endpoint answers 404. */
  readonly history?: NodeHistory
  /** The engine's recent decisions for GET /server/decisions and dyncluster_decisions_total (fed by onDecisions); absent: that endpoint answers 404. */
  readonly decisions?: DecisionLog
  /** PUT /server/config/reload: re-read the configuration (src/daemon/reload.ts); absent: 501. */
  readonly reload?: () => Effect.Effect<ReloadOutcome>
}

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024
/** How often the dashboard polls (at --speed 20, 40 simulated seconds at most between its view and the engine's). */
export const DEFAULT_DASHBOARD_REFRESH_SECONDS = 2
export const DEFAULT_MAX_URL_LENGTH = 4096

type Request = HttpServerRequest.HttpServerRequest
type Response = HttpServerResponse.HttpServerResponse
type Handler = Effect.Effect<Response, never, Request | HttpRouter.RouteContext | HttpServerRequest.ParsedSearchParams>
type Method = "GET" | "PUT" | "DELETE"

// ---------------------------------------------------------------- responses

const COMMON_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff"
} as const

/** A JSON response; serialisation failures become a 500 JSON error instead of a broken body. */
export const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}): Response => {
  let text: string
  try {
    text = JSON.stringify(body) ?? "null"
  } catch (e) {
    status = 500
    text = JSON.stringify({ error: `could not serialise the response: ${(e as Error).message}` })
  }
  return HttpServerResponse.text(text + "\n", {
    status,
    contentType: "application/json",
    headers: { ...COMMON_HEADERS, ...headers }
  })
}

const errorResponse = (status: number, message: string, headers: Record<string, string> = {}) =>
  jsonResponse(status, { error: message }, headers)

const success = jsonResponse(200, { success: true })

/** Values from the request are echoed in messages; keep them short. */
/**
 * A job as GET /job shows it: a job without a priority from the scheduler yet
 * (not yet eligible, `null` in the model) is `-1`, the first version's default,
 * which its dashboard and scripts test for (`plan` reads -1 back as null).
 */
export const jobJson = (j: Job): Job => (j.priority === null ? { ...j, priority: NO_PRIORITY } : j)

/** GET /server/queues: ours, plus the first version's names (`tasks` waiting for a worker, `results` not yet applied). */
export const queuesJson = (q: TaskQueues) => ({ ...q, tasks: q.waiting, results: q.results_pending })

const shown = (s: string): string => JSON.stringify(s.length > 120 ? s.slice(0, 117) + "..." : s)

const fromAction = <R>(action: Effect.Effect<void, ActionError, R>): Effect.Effect<Response, never, R> =>
  action.pipe(
    Effect.as(success),
    Effect.catchTag("ActionError", (e) => Effect.succeed(errorResponse(e.status, e.message)))
  )

/** JSON text + "\n" as bytes, as jsonResponse encodes it; a 500 JSON error when the value cannot be encoded. */
const encodeJson = (body: unknown): Buffer | Response => {
  let text: string | undefined
  try {
    text = JSON.stringify(body)
  } catch {
    return jsonResponse(500, body)
  }
  return Buffer.from((text ?? "null") + "\n", "utf8")
}

/**
 * Whether an Accept-Encoding header allows gzip (RFC 9110 §12.5.3): "gzip"
 * (or "x-gzip") listed with a q-value above 0, or "*" above 0 when gzip is
 * not listed. No header (or anything unparsable): identity.
 */
export const acceptsGzip = (header: string | undefined): boolean => {
  if (header === undefined) return false
  let star: boolean | undefined
  for (const part of header.split(",")) {
    const [name, ...params] = part.split(";")
    const coding = name.trim().toLowerCase()
    if (coding !== "gzip" && coding !== "x-gzip" && coding !== "*") continue
    let q = 1
    for (const p of params) {
      const [k, v = ""] = p.split("=")
      // A malformed q-value counts as 0: identity is always acceptable, a guess is not.
      if (k.trim().toLowerCase() === "q") q = /^\s*(0(\.[0-9]{0,3})?|1(\.0{0,3})?)\s*$/.test(v) ? Number(v) : 0
    }
    const ok = q > 0
    if (coding === "*") star = ok
    else return ok
  }
  return star ?? false
}

export { GZIP_MIN_BYTES }

const LISTING_HEADERS = { ...COMMON_HEADERS, vary: "Accept-Encoding" } as const
const GZIP_LISTING_HEADERS = { ...LISTING_HEADERS, "content-encoding": "gzip" } as const

/** A listing's body, gzipped (compressed once per body, see Rendered) when the client accepts it and it is not tiny. */
const listingResponse = (r: Rendered, gzip: boolean): Effect.Effect<Response> => {
  const plain = () => HttpServerResponse.uint8Array(r.body, { status: 200, contentType: "application/json", headers: LISTING_HEADERS })
  if (!gzip || r.body.length < GZIP_MIN_BYTES) return Effect.sync(plain)
  return Effect.promise(() => r.gzip()).pipe(
    Effect.map((gz) =>
      HttpServerResponse.uint8Array(gz, { status: 200, contentType: "application/json", headers: GZIP_LISTING_HEADERS })
    ),
    // zlib failing on a buffer is not expected; the client still gets the listing, unless its bytes were only lent for the gzip.
    Effect.catchAllDefect((e) =>
      Effect.sync(() => (r.shareable ? plain() : errorResponse(500, `could not compress the response: ${e instanceof Error ? e.message : String(e)}`)))
    )
  )
}

const noop = () => {}

/** A listing's inputs by content (ListingInputs): the value it encodes, its open slots marked. */
const contentOf =
  (view: (s: Snapshot, open: Opener) => unknown) =>
  (s: Snapshot): ListingInputs => ({ content: view(s, slotOpener) })

/** Resumes on the next turn of the event loop, after the I/O callbacks of this one. */
const nextTurn = Effect.async<void>((resume) => {
  setImmediate(() => resume(Effect.void))
})

// ---------------------------------------------------------------- parameters

class BadParameter {
  constructor(readonly message: string) {}
}

/**
 * A non-negative integer query parameter: absent → undefined; repeated, empty,
 * signed, fractional or too large → BadParameter naming the parameter.
 */
const intParam = (
  params: Readonly<Record<string, string | ReadonlyArray<string>>>,
  name: string,
  max?: number
): number | undefined | BadParameter => {
  const raw = params[name]
  if (raw === undefined) return undefined
  if (typeof raw !== "string") return new BadParameter(`${name}: expected one value, got ${raw.length}`)
  const expected = max === undefined ? "a non-negative integer" : `an integer from 0 to ${max}`
  if (!/^[0-9]+$/.test(raw)) return new BadParameter(`${name}: expected ${expected}, got ${shown(raw)}`)
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || (max !== undefined && n > max)) {
    return new BadParameter(`${name}: expected ${expected}, got ${shown(raw)}`)
  }
  return n
}

/**
 * A time query parameter (seconds since the epoch, decimals allowed): absent
 * → undefined; repeated, empty, signed, not a plain decimal number → BadParameter.
 */
const timeParam = (params: Readonly<Record<string, string | ReadonlyArray<string>>>, name: string): number | undefined | BadParameter => {
  const raw = params[name]
  if (raw === undefined) return undefined
  if (typeof raw !== "string") return new BadParameter(`${name}: expected one value, got ${raw.length}`)
  const n = Number(raw)
  if (!/^[0-9]{1,15}(\.[0-9]{1,9})?$/.test(raw) || !Number.isFinite(n)) {
    return new BadParameter(`${name}: expected a time in seconds since the epoch (e.g. 1700000000 or 1700000000.5), got ${shown(raw)}`)
  }
  return n
}

const pathParam = (name: string) =>
  Effect.map(HttpRouter.params, (p) => p[name] ?? "")

const searchParams = HttpServerRequest.ParsedSearchParams

// ---------------------------------------------------------------- auth

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest()

/** Compares the bearer token in constant time (both sides hashed to the same length first). */
export const makeTokenCheck = (token: string) => {
  const expected = digest(token)
  return (authorization: string | undefined): boolean => {
    if (authorization === undefined) return false
    const m = /^Bearer +(\S+) *$/i.exec(authorization)
    // Always run one comparison so a malformed header costs the same as a wrong token.
    const given = digest(m === null ? "" : m[1])
    return timingSafeEqual(given, expected) && m !== null
  }
}

// ---------------------------------------------------------------- app

const WORKERNODE_ACTIONS = ["hold", "unhold", "vacate"] as const
const RESOURCE_ACTIONS = ["freeze", "restore", "drain"] as const

const listing = (paths: ReadonlyArray<string>) =>
  jsonResponse(200, {
    name: "dyncluster",
    endpoints: paths,
    dashboard: "/dashboard",
    metrics: "/metrics"
  })

export const makeHttpApp = (engine: EngineApi, options: HttpAppOptions): HttpApp.Default => {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const maxUrl = options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH
  const checkToken = options.token === null ? null : makeTokenCheck(options.token)
  const dashboardHtml = renderDashboard({
    tokenRequired: options.token !== null,
    tokenForReads: options.token !== null && options.tokenForReads,
    refreshSeconds: options.dashboardRefreshSeconds ?? DEFAULT_DASHBOARD_REFRESH_SECONDS,
    decisions: options.decisions !== undefined
  })

  const snapshot = engine.snapshot
  const stamp = engine.stamp
  const bodies = options.bodyCache ?? makeBodyCache()

  /**
   * A 200 JSON listing of the snapshot: the same bytes as
   * jsonResponse(200, view(snapshot, identity)), gzipped for clients whose
   * Accept-Encoding allows it (listingResponse). With a stamp, encoded once
   * per engine version (bodyCache.ts) and rendered (and gzipped) at most once
   * per time quantum (LISTING_QUANTUM_SECONDS) of that version, and the
   * requests that wait for a body share one rendering (coalesced).
   */
  const cachedListing = (key: string, view: (s: Snapshot, open: Opener) => unknown, inputsOf?: (s: Snapshot) => ListingInputs): Handler =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (req) => {
      const gzip = acceptsGzip(req.headers["accept-encoding"])
      if (stamp === undefined) {
        return Effect.flatMap(snapshot, (s) => {
          const encoded = encodeJson(view(s, identityOpener))
          return encoded instanceof Uint8Array ? listingResponse(bodies.wrap(s.time, encoded), gzip) : Effect.succeed(encoded)
        })
      }
      return Effect.flatMap(coalesced(key, view, gzip, inputsOf), (r) => (r instanceof Rendered ? listingResponse(r, gzip) : Effect.succeed(r)))
    })

  /**
   * The body of `key` now: the one rendered for this version less than the
   * quantum before this request's stamp (bodyCache.ts: its
   * time_in_current_state is at most that old, everything else current), or
   * else the next rendering, shared by every request that asks before it
   * starts. The rendering waits one turn of the event loop
   * (setImmediate) so that the requests read in the same turn join it, and
   * for gzip also until the previous gzip of `key` is done (at most one in
   * flight per key: the requests that come meanwhile share the next one
   * instead of each starting its own). Since it reads the stamp and the
   * snapshot only when it runs, after each of its requests arrived and
   * before any is answered, each gets exactly what a fresh encoding during
   * its own lifetime gives; later requests of the same version get it for
   * the rest of its quantum.
   */
  const renderings = makeCoalescer<Rendered | Response>()
  const gzipping = new Map<string, Promise<unknown>>()
  const coalesced = (key: string, view: (s: Snapshot, open: Opener) => unknown, gzip: boolean, inputsOf?: (s: Snapshot) => ListingInputs): Effect.Effect<Rendered | Response> =>
    Effect.gen(function* () {
      // A rendering that has not started yet will do (and costs no stamp: in --sim each is an O(nodes) catch-up).
      const slot = gzip ? `${key}\u0000gzip` : key
      const waiting = renderings.join(slot)
      if (waiting !== undefined) return yield* waiting
      const now = yield* stamp!
      const ready = bodies.peek(key, now.version, now.time, gzip)
      if (ready !== undefined) return ready
      const gate = Effect.zipRight(
        nextTurn,
        Effect.suspend(() => {
          const previous = gzip ? gzipping.get(key) : undefined
          return previous === undefined ? Effect.void : Effect.promise(() => previous.then(noop, noop))
        })
      )
      const work = Effect.map(
        Effect.suspend(() => render(key, view, gzip, inputsOf)),
        (r) => {
          if (gzip && r instanceof Rendered && r.body.length >= GZIP_MIN_BYTES) {
            const compressing = r.gzip()
            gzipping.set(key, compressing)
            const clear = () => void (gzipping.get(key) === compressing && gzipping.delete(key))
            compressing.then(clear, clear)
          }
          return r
        }
      )
      return yield* renderings.lead(slot, gate, work)
    })

  /**
   * Templates being encoded (they pause between chunks), per key: a request
   * of the same engine version waits for it instead of encoding its own.
   * A new version whose listing has the same inputs as the previous one's
   * adopts its template, bodies and gzip (BodyCache.adopt) instead of
   * encoding again: `inputsOf` names them (GET /job: the snapshot's job
   * objects, never mutated: 100,000 === checks instead of 26 MB encoded);
   * by default they are the listing's content (`contentOf`: GET /workernode
   * and /resource, whose nodes the engine edits in place, compared field
   * by field with a copy of the previous version's).
   */
  const encoding = new Map<string, { readonly version: number; readonly done: Promise<void> }>()
  const render = (key: string, view: (s: Snapshot, open: Opener) => unknown, gzip: boolean, inputsOf?: (s: Snapshot) => ListingInputs): Effect.Effect<Rendered | Response> =>
    Effect.gen(function* () {
      let before = yield* stamp!
      const hit = bodies.get(key, before.version, before.time, gzip)
      if (hit !== undefined) return hit
      const pending = encoding.get(key)
      if (pending !== undefined && pending.version === before.version) {
        yield* Effect.promise(() => pending.done)
        before = yield* stamp!
        const built = bodies.get(key, before.version, before.time, gzip)
        if (built !== undefined) return built
      }
      const s = yield* snapshot
      const after = yield* stamp!
      // Stored only when nothing changed while the snapshot was taken.
      const version = before.version !== null && before.version === after.version ? before.version : null
      // (no version: nothing to adopt, nothing stored)
      const inputs = version === null ? null : (inputsOf ?? contentOf(view))(s)
      if (inputs !== null) {
        const adopted = bodies.adopt(key, version, s.time, gzip, inputs)
        if (adopted !== undefined) return adopted
      }
      let finished = noop
      if (version !== null) encoding.set(key, { version, done: new Promise<void>((resolve) => (finished = resolve)) })
      const done = Effect.sync(() => {
        if (encoding.get(key)?.version === version) encoding.delete(key)
        finished()
      })
      // encoded a chunk at a time, letting other requests in between (a 100,000-job queue is 26 MB of JSON)
      const encoded = Effect.map(makeTemplateEffect((open) => view(s, open), nextTurn), (template): Rendered | Response => {
        if (template !== null) return bodies.put(key, version, template, s.time, gzip, inputs)
        const plain = encodeJson(view(s, identityOpener))
        return plain instanceof Uint8Array ? bodies.wrap(s.time, plain) : plain
      })
      return yield* Effect.ensuring(encoded, done)
    })

  const routes: ReadonlyArray<readonly [string, Partial<Record<Method, Handler>>]> = [
    ["/", { GET: Effect.succeed(listing(ENDPOINTS)) }],
    [
      "/workernode",
      {
        GET: Effect.gen(function* () {
          const state = intParam(yield* searchParams, "state", NodeStateNames.length - 1)
          if (state instanceof BadParameter) return errorResponse(400, state.message)
          return yield* cachedListing(`/workernode?state=${state ?? ""}`, ({ nodes }, open) =>
            (state === undefined ? nodes : nodes.filter((n) => n.state === state)).map(open)
          )
        })
      }
    ],
    [
      "/workernode/:hostname",
      {
        GET: Effect.gen(function* () {
          const hostname = yield* pathParam("hostname")
          const node = (yield* snapshot).nodes.find((n) => n.hostname === hostname)
          return node === undefined ? errorResponse(404, `unknown worker node: ${shown(hostname)}`) : jsonResponse(200, node)
        }),
        DELETE: Effect.flatMap(pathParam("hostname"), (h) => fromAction(engine.deleteNode(h)))
      }
    ],
    [
      "/workernode/:hostname/:action",
      {
        PUT: Effect.gen(function* () {
          const hostname = yield* pathParam("hostname")
          const action = yield* pathParam("action")
          switch (action) {
            case "hold":
              return yield* fromAction(engine.hold(hostname))
            case "unhold":
              return yield* fromAction(engine.unhold(hostname))
            case "vacate":
              return yield* fromAction(engine.vacate(hostname))
            default:
              return errorResponse(
                404,
                `unsupported worker node action ${shown(action)}: expected one of ${WORKERNODE_ACTIONS.join(", ")}`
              )
          }
        })
      }
    ],
    ["/job", { GET: cachedListing("/job", (s) => s.jobs.map(jobJson), (s) => ({ objects: s.jobs })) }],
    [
      "/job/:id",
      {
        GET: Effect.gen(function* () {
          const id = yield* pathParam("id")
          const job = (yield* snapshot).jobs.find((j) => j.jobid === id)
          return job === undefined ? errorResponse(404, `unknown job: ${shown(id)}`) : jsonResponse(200, jobJson(job))
        })
      }
    ],
    // as written in the file (the first version's answer); the effective values, defaults filled in, under /effective
    ["/server/config", { GET: Effect.map(engine.configAsWritten ?? engine.config, (c) => jsonResponse(200, redactSecrets(c))) }],
    ["/server/config/effective", { GET: Effect.map(engine.config, (c) => jsonResponse(200, redactSecrets(c))) }],
    [
      "/server/config/reload",
      {
        PUT:
          options.reload === undefined
            ? Effect.succeed(errorResponse(501, "this daemon cannot reload its configuration"))
            : Effect.map(Effect.suspend(options.reload), (r) =>
                r.ok
                  ? jsonResponse(200, { success: true, file: r.file, changes: r.changes, restart: r.restart, tls: r.tls })
                  : jsonResponse(422, {
                      error: `${r.file}: invalid configuration (${r.problems.length} problem(s)); still running on the previous one`,
                      problems: r.problems,
                      tls: r.tls
                    })
              )
      }
    ],
    // (polled by monitors: the light path, no snapshot of every node)
    ["/server/status", { GET: Effect.map(statusOf(engine), (s) => jsonResponse(200, s)) }],
    ["/server/queues", { GET: Effect.map(snapshot, (s) => jsonResponse(200, queuesJson(s.queues))) }],
    [
      "/server/history",
      {
        GET: Effect.gen(function* () {
          const since = timeParam(yield* searchParams, "since")
          if (since instanceof BadParameter) return errorResponse(400, since.message)
          if (options.history === undefined) return errorResponse(404, "this server keeps no history of node counts")
          return jsonResponse(200, options.history.answer(since))
        })
      }
    ],
    [
      "/server/decisions",
      {
        GET: Effect.gen(function* () {
          const params = yield* searchParams
          const since = timeParam(params, "since")
          if (since instanceof BadParameter) return errorResponse(400, since.message)
          const limit = intParam(params, "limit", MAX_DECISIONS_LIMIT)
          if (limit instanceof BadParameter) return errorResponse(400, limit.message)
          if (options.decisions === undefined) return errorResponse(404, "this server keeps no log of decisions")
          return jsonResponse(200, options.decisions.answer({ since, limit }))
        })
      }
    ],
    [
      "/server/auto",
      {
        PUT: Effect.as(engine.setAuto(true), success),
        DELETE: Effect.as(engine.setAuto(false), success)
      }
    ],
    [
      "/resource",
      {
        GET: cachedListing("/resource", (s, open) =>
          s.resources.map((r) => redactSecrets(open === identityOpener ? r : { ...r, worker_nodes: r.worker_nodes.map(open) }))
        )
      }
    ],
    [
      "/resource/:name",
      {
        GET: Effect.gen(function* () {
          const name = yield* pathParam("name")
          const res = (yield* snapshot).resources.find((r) => r.name === name)
          return res === undefined ? errorResponse(404, `unknown resource: ${shown(name)}`) : jsonResponse(200, redactSecrets(res))
        }),
        PUT: Effect.gen(function* () {
          const name = yield* pathParam("name")
          const num = intParam(yield* searchParams, "num")
          if (num instanceof BadParameter) return errorResponse(400, num.message)
          return yield* fromAction(engine.launch(name, num ?? 1))
        })
      }
    ],
    [
      "/resource/:name/:action",
      {
        PUT: Effect.gen(function* () {
          const name = yield* pathParam("name")
          const action = yield* pathParam("action")
          switch (action) {
            case "freeze":
              return yield* fromAction(engine.freeze(name))
            case "restore":
              return yield* fromAction(engine.restore(name))
            case "drain":
              return yield* fromAction(engine.drain(name))
            default:
              return errorResponse(
                404,
                `unsupported resource action ${shown(action)}: expected one of ${RESOURCE_ACTIONS.join(", ")}`
              )
          }
        })
      }
    ],
    [
      "/metrics",
      {
        GET: Effect.map(snapshot, (s) =>
          HttpServerResponse.text(renderMetrics(s, { cycleHistogram: options.cycleHistogram, decisions: options.decisions }), {
            contentType: METRICS_CONTENT_TYPE,
            headers: COMMON_HEADERS
          })
        )
      }
    ],
    [
      "/dashboard",
      {
        GET: Effect.succeed(
          HttpServerResponse.text(dashboardHtml.html, {
            contentType: "text/html; charset=utf-8",
            headers: {
              ...COMMON_HEADERS,
              "content-security-policy": dashboardHtml.contentSecurityPolicy,
              "x-frame-options": "DENY",
              "referrer-policy": "no-referrer"
            }
          })
        )
      }
    ]
  ]

  /** Pages that carry no engine data and so stay open with tokenForReads (the dashboard must load to ask for the token). */
  const openPages = new Set(["/", "/dashboard"])

  const dispatch = (methods: Partial<Record<Method, Handler>>): Handler =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (req) => {
      const method = req.method === "HEAD" ? "GET" : req.method
      const handler = methods[method as Method]
      if (handler !== undefined) return handler
      const allowed = Object.keys(methods)
      if (allowed.includes("GET")) allowed.push("HEAD")
      return Effect.succeed(
        errorResponse(405, `method ${req.method} not allowed on ${shown(pathOf(req.url))}: use ${allowed.join(", ")}`, {
          allow: allowed.join(", ")
        })
      )
    })

  const router = routes.reduce(
    (r, [path, methods]) => HttpRouter.all(r, path as HttpRouter.PathInput, dispatch(methods)),
    HttpRouter.empty as HttpRouter.HttpRouter<never, never>
  )
  const routed = Effect.runSync(
    HttpRouter.toHttpApp(router).pipe(
      // Hostnames may be up to 253 characters; the URL length limit bounds the rest.
      HttpRouter.withRouterConfig({ maxParamLength: 1024, ignoreTrailingSlash: true })
    )
  )

  const app: HttpApp.Default = Effect.gen(function* () {
    const req = yield* HttpServerRequest.HttpServerRequest
    if (req.url.length > maxUrl) {
      return errorResponse(414, `request target too long: ${req.url.length} characters, at most ${maxUrl} accepted`)
    }
    const length = req.headers["content-length"]
    if (length !== undefined && (!/^[0-9]+$/.test(length) || Number(length) > maxBody)) {
      return errorResponse(413, `request body too large: Content-Length ${shown(length)}, at most ${maxBody} bytes accepted`)
    }
    if (checkToken !== null) {
      const isRead = req.method === "GET" || req.method === "HEAD"
      const needsToken = isRead ? options.tokenForReads && !openPages.has(pathOf(req.url)) : true
      if (needsToken && !checkToken(req.headers["authorization"])) {
        const missing = req.headers["authorization"] === undefined
        const remote = Option.getOrElse(req.remoteAddress, () => "unknown")
        // One line per refused request, for the administrator (and fail2ban): who tried what.
        yield* Effect.logWarning(`API request refused (401, ${missing ? "no token" : "invalid token"}): ${req.method} ${shown(pathOf(req.url))} from ${remote}`).pipe(
          Effect.annotateLogs({ remote, method: req.method, path: pathOf(req.url), status: 401 })
        )
        return errorResponse(
          401,
          missing ? "authentication required: send the header \"Authorization: Bearer <token>\"" : "invalid token in the Authorization header",
          { "www-authenticate": 'Bearer realm="dyncluster"' }
        )
      }
    }
    // find-my-way ends a path at ";" (for ";jsessionid"); ids here may contain it, so hand it over encoded.
    const q = req.url.indexOf("?")
    const path = q === -1 ? req.url : req.url.slice(0, q)
    if (!path.includes(";")) return yield* routed
    const url = path.replace(/;/g, "%3B") + (q === -1 ? "" : req.url.slice(q))
    return yield* Effect.provideService(routed, HttpServerRequest.HttpServerRequest, req.modify({ url }))
  }).pipe(
    Effect.catchTag("RouteNotFound", (e) =>
      Effect.succeed(errorResponse(404, `no such endpoint: ${e.request.method} ${shown(pathOf(e.request.url))}`))
    ),
    Effect.catchAllCause((cause) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (req) =>
        // A client that went away while its listing was being rendered is not an error of the server.
        (Cause.isInterruptedOnly(cause) ? Effect.logDebug(`${req.method} ${pathOf(req.url)} interrupted`, cause) : Effect.logError(`${req.method} ${pathOf(req.url)} failed`, cause)).pipe(
          Effect.as(
            errorResponse(
              500,
              Cause.isInterruptedOnly(cause)
                ? "request interrupted"
                : `internal error while handling ${req.method} ${shown(pathOf(req.url))}`
            )
          )
        )
      )
    )
  )
  if (stamp !== undefined) fastPaths.set(app, makeFastPath(stamp, bodies, checkToken === null || !options.tokenForReads))
  return app
}

// ---------------------------------------------------------------- fast path

/**
 * Answers a request at once, on Node's request event, before any
 * per-request Effect work; false: not handled (nothing was written), the
 * app answers it. `run` runs an Effect synchronously in the server's
 * runtime (undefined when it fails or would suspend).
 */
export type FastPath = (req: Http.IncomingMessage, res: Http.ServerResponse, run: <A>(eff: Effect.Effect<A>) => A | undefined) => boolean

/** The fast path of each app made by makeHttpApp (serveHttp installs it). */
const fastPaths = new WeakMap<HttpApp.Default, FastPath>()

/** The cache key of GET `url` when it is a plain listing request the fast path may answer. */
const FAST_KEYS: ReadonlyMap<string, string> = new Map([
  ["/workernode", "/workernode?state="],
  ...NodeStateNames.map((_, state) => [`/workernode?state=${state}`, `/workernode?state=${state}`] as const),
  ["/resource", "/resource"],
  ["/job", "/job"]
])

/**
 * GET /workernode[?state=N], /resource and /job when a body of this engine
 * version rendered less than the quantum before the request's stamp is
 * ready (and, for gzip clients, its gzip is done): the very bytes and
 * headers the app would send for it (listingResponse), without the ~0.25 ms
 * of Effect work per request (fiber, router, response, docs/performance.md
 * "Branch perf-api3"). Everything else (HEAD, a body, a token to check, a
 * body still to render or compress) goes to the app.
 */
const makeFastPath = (stamp: NonNullable<EngineApi["stamp"]>, bodies: BodyCache, open: boolean): FastPath => (req, res, run) => {
  if (!open || req.method !== "GET" || req.url === undefined) return false
  const key = FAST_KEYS.get(req.url)
  if (key === undefined || req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined) return false
  const now = run(stamp)
  if (now === undefined) return false
  const gzip = acceptsGzip(req.headers["accept-encoding"])
  const r = bodies.peek(key, now.version, now.time, gzip)
  if (r === undefined) return false
  let body: Buffer
  let headers: Record<string, string>
  if (!gzip || r.body.length < GZIP_MIN_BYTES) {
    if (!r.shareable) return false
    body = r.body
    headers = { ...LISTING_HEADERS, "content-type": "application/json", "content-length": String(body.length) }
  } else {
    const gz = r.gzipped
    if (gz === null) return false
    body = gz
    headers = { ...GZIP_LISTING_HEADERS, "content-type": "application/json", "content-length": String(body.length) }
  }
  res.writeHead(200, headers)
  res.end(body)
  bodies.servedFast()
  return true
}

const pathOf = (url: string): string => {
  const q = url.indexOf("?")
  return q === -1 ? url : url.slice(0, q)
}

/** Endpoints listed by GET / (for people exploring with curl). */
export const ENDPOINTS: ReadonlyArray<string> = [
  "GET /workernode[?state=N]",
  "GET /workernode/<hostname>",
  "PUT /workernode/<hostname>/<hold|unhold|vacate>",
  "DELETE /workernode/<hostname>",
  "GET /job",
  "GET /job/<id>",
  "GET /server/config",
  "GET /server/config/effective",
  "PUT /server/config/reload",
  "GET /server/status",
  "GET /server/queues",
  "GET /server/history[?since=T]",
  "GET /server/decisions[?since=T&limit=N]",
  "PUT /server/auto",
  "DELETE /server/auto",
  "GET /resource",
  "GET /resource/<name>",
  "PUT /resource/<name>[?num=N]",
  "PUT /resource/<name>/<freeze|restore|drain>",
  "GET /metrics",
  "GET /dashboard"
]

// ---------------------------------------------------------------- serving

export interface ListenOptions {
  readonly host: string
  /** 0 = an ephemeral port (read it back from HttpServer's address). */
  readonly port: number
  /** HTTPS with this certificate and key (PEM); absent = plain HTTP. */
  readonly tls?: TlsCertificate
}

export interface TlsCertificate {
  readonly cert: string | Buffer
  readonly key: string | Buffer
}

/** Requests Node cannot parse never reach the app; answer them in JSON too (Node's default has no body). */
const onClientError = (err: NodeJS.ErrnoException, socket: import("node:stream").Duplex) => {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy()
    return
  }
  const [status, message] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "request headers too large"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "request not received in time"]
        : [400, "malformed HTTP request"]
  const body = JSON.stringify({ error: message }) + "\n"
  socket.end(
    `HTTP/1.1 ${status} ${Http.STATUS_CODES[status]}\r\n` +
      "Content-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      "Connection: close\r\n\r\n" +
      body
  )
}

const makeNodeServer = (tls?: TlsCertificate, fast?: (req: Http.IncomingMessage, res: Http.ServerResponse) => boolean): Http.Server => {
  const options = {
    // Lets URLs longer than maxUrlLength reach the app (and get a JSON 414) instead of Node's bare 431.
    maxHeaderSize: 32 * 1024,
    requestTimeout: 30_000,
    headersTimeout: 10_000
  }
  // An https.Server serves requests like an http.Server (the platform's server only uses what both have).
  const server = tls === undefined ? Http.createServer(options) : (Https.createServer({ ...options, cert: tls.cert, key: tls.key }) as unknown as Http.Server)
  server.on("clientError", onClientError)
  if (fast !== undefined) {
    // Before the platform's own "request" listener: a request the fast path answers never reaches it.
    const emit = server.emit
    server.emit = function (this: Http.Server, event: string | symbol, ...args: Array<unknown>): boolean {
      if (event === "request") {
        let handled = false
        try {
          handled = fast(args[0] as Http.IncomingMessage, args[1] as Http.ServerResponse)
        } catch {
          // nothing was written unless it returned true: the app answers
        }
        if (handled) return true
      }
      return (emit as (this: Http.Server, event: string | symbol, ...args: Array<unknown>) => boolean).call(this, event, ...args)
    } as typeof server.emit
  }
  return server
}

/**
 * Serves the app with Node's HTTP server for as long as the layer lives. The
 * layer also provides HttpServer, whose `address` tells the bound port.
 * Without the platform's tracing span per request (its URL parsed, every
 * header copied as an attribute): nothing here exports traces, and it cost
 * the daemon CPU on every answer (docs/performance.md, issue #19).
 */
export const serveHttp = (
  app: HttpApp.Default,
  options: ListenOptions,
  onServer: (server: Http.Server) => void = () => {}
): Layer.Layer<HttpServer.HttpServer, ServeError> =>
  Layer.unwrapEffect(
    Effect.map(Effect.runtime<never>(), (runtime) => {
      const fastPath = fastPaths.get(app)
      // The fast path runs the stamp in the runtime the app's requests run in (its Clock, its services).
      const run = <A>(eff: Effect.Effect<A>): A | undefined => {
        const exit = Runtime.runSyncExit(runtime)(eff)
        return Exit.isSuccess(exit) ? exit.value : undefined
      }
      const fast = fastPath === undefined ? undefined : (req: Http.IncomingMessage, res: Http.ServerResponse) => fastPath(req, res, run)
      return HttpServer.serve(app).pipe(
        HttpMiddleware.withTracerDisabledWhen(() => true),
        Layer.provideMerge(
          NodeHttpServer.layer(
            () => {
              const server = makeNodeServer(options.tls, fast)
              onServer(server)
              return server
            },
            { host: options.host, port: options.port }
          )
        )
      )
    })
  )

export interface Listening {
  /** e.g. "http://127.0.0.1:8001", "https://[::1]:8443". */
  readonly url: string
  readonly port: number
  /** HTTPS only: new connections use this certificate from now on (throws when it is not a valid certificate and key). */
  readonly setCertificate: ((tls: TlsCertificate) => void) | null
}

/** Starts serving within the current scope and returns the URL it listens on (e.g. "http://127.0.0.1:8001"). */
export const listenHttp = (app: HttpApp.Default, options: ListenOptions): Effect.Effect<Listening, ServeError, Scope.Scope> =>
  Effect.gen(function* () {
    let node: Http.Server | null = null
    const ctx = yield* Layer.build(serveHttp(app, options, (s) => (node = s)))
    const server = yield* Effect.provide(HttpServer.HttpServer, ctx)
    const address = server.address
    const tls = options.tls !== undefined ? (node as unknown as Https.Server | null) : null
    const setCertificate = tls === null ? null : (c: TlsCertificate) => tls.setSecureContext({ cert: c.cert, key: c.key })
    if (address._tag !== "TcpAddress") return { url: `unix:${address.path}`, port: 0, setCertificate }
    const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
    return { url: `${tls !== null ? "https" : "http"}://${host}:${address.port}`, port: address.port, setCertificate }
  })
