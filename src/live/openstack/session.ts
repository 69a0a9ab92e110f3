/**
 * An authenticated OpenStack session over @effect/platform's HttpClient:
 * Keystone v3 tokens (cached, renewed before they expire, renewed once more
 * when a service answers 401), the service catalogue, and every API failure
 * mapped into a CloudError kind the engine can act on.
 */
import { makeCallRate, type CallRate } from "../call-rate.ts"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Either, Option, Ref, Schema } from "effect"
import { CloudError, type CloudErrorKind } from "../../engine/services.ts"
import { describeDecodeError, parseRetryAfter } from "../cloud-setup.ts"
import { authBody, principal, tokenUrl, type OpenStackConfig } from "./config.ts"
import { COMPUTE_MICROVERSION, TokenResponse, type CatalogEntry } from "./wire.ts"

export interface Token {
  readonly id: string
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
  /** Renew from this time on (before expiry, so no call goes out with a dying token). */
  readonly renewAt: number
  readonly catalog: ReadonlyArray<CatalogEntry>
  readonly user: string | null
  readonly project: string | null
}

export type Service = "compute" | "network"

export interface CallOptions<A, I> {
  readonly op: string
  readonly method: "GET" | "POST" | "DELETE"
  readonly service: Service
  /** Relative to the service endpoint, or an absolute URL (paging links). */
  readonly path: string
  readonly query?: Record<string, string>
  readonly body?: unknown
  readonly schema?: Schema.Schema<A, I>
  /** Statuses that are answers, not failures (e.g. 404 for a refresh). */
  readonly accept?: ReadonlyArray<number>
}

export interface Reply<A> {
  readonly status: number
  readonly body: A | undefined
}

export interface Session {
  readonly token: Effect.Effect<Token, CloudError>
  readonly endpoint: (service: Service) => Effect.Effect<string, CloudError>
  readonly call: <A, I>(o: CallOptions<A, I>) => Effect.Effect<Reply<A>, CloudError>
}

export interface SessionOptions {
  readonly resource: string
  readonly config: OpenStackConfig
  readonly http: HttpClient.HttpClient
  readonly retryDelay: Duration.DurationInput
  readonly callRate?: CallRate
}

interface Raw {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

/** What went wrong with a request before any status came back. */
type Transport = { readonly _tag: "Transport"; readonly message: string } | { readonly _tag: "Timeout" }

const MAX_RENEW_MARGIN_MS = 5 * 60 * 1000

/** The human message inside an OpenStack error body: `{"itemNotFound": {"message": ...}}`, `{"error": {"message": ...}}`, ... */
export const errorMessage = (text: string): { message: string | null; retryAfter: string | null } => {
  try {
    const j = JSON.parse(text) as unknown
    if (j !== null && typeof j === "object") {
      for (const v of Object.values(j as Record<string, unknown>)) {
        if (v !== null && typeof v === "object" && "message" in v) {
          const o = v as Record<string, unknown>
          return {
            message: typeof o.message === "string" ? o.message : null,
            retryAfter: o.retryAfter !== undefined && o.retryAfter !== null ? String(o.retryAfter) : null
          }
        }
      }
      const o = j as Record<string, unknown>
      if (typeof o.message === "string") return { message: o.message, retryAfter: null }
    }
  } catch {
    /* not JSON */
  }
  const t = text.trim()
  return { message: t === "" ? null : t.replace(/\s+/g, " ").slice(0, 200), retryAfter: null }
}

const QUOTA = /quota|limit exceeded|exceeds.*limit/i

/** Maps an HTTP failure status into a CloudError kind (SPEC: capacity/quota/rate limits back the resource off). */
export const classifyStatus = (status: number, message: string): CloudErrorKind => {
  // Nova's scheduler found no hypervisor for the flavour (most clouds say it on the server's fault instead).
  if (/no valid host/i.test(message)) return "capacity"
  switch (status) {
    case 400:
      return QUOTA.test(message) ? "quota" : "invalid"
    case 401:
      return "auth"
    case 403:
      // Nova answers 403 for "Quota exceeded for instances/cores/ram" since v2.1.
      return QUOTA.test(message) ? "quota" : "auth"
    case 404:
      return "notfound"
    case 409:
      return QUOTA.test(message) ? "quota" : "conflict"
    case 413:
      return /rate/i.test(message) ? "ratelimit" : "quota"
    case 429:
      return "ratelimit"
    case 408:
    case 504:
      return "timeout"
    default:
      return status >= 500 ? "api" : "invalid"
  }
}

export const makeSession = (o: SessionOptions): Effect.Effect<Session> =>
  Effect.gen(function* () {
    const { resource, config, http } = o
    const auth = tokenUrl(config.auth_url)
    const timeout = Duration.seconds(config.api_timeout)
    const current = yield* Ref.make<Option.Option<Token>>(Option.none())
    const authLock = yield* Effect.makeSemaphore(1)

    const err = (op: string, kind: CloudErrorKind, message: string, retryAfter?: number) =>
      new CloudError({ resource, op, kind, message, ...(retryAfter !== undefined ? { retryAfter } : {}) })

    /** One HTTP exchange with a deadline; the body is read inside the deadline too. */
    const exchange = (req: HttpClientRequest.HttpClientRequest): Effect.Effect<Raw, Transport> =>
      http.execute(req).pipe(
        Effect.flatMap((res) => Effect.map(res.text, (text) => ({ status: res.status, headers: res.headers as Record<string, string>, text }))),
        Effect.mapError((e): Transport => ({ _tag: "Transport", message: transportMessage(e) })),
        Effect.timeoutFail({ duration: timeout, onTimeout: (): Transport => ({ _tag: "Timeout" }) })
      )

    const failure = (op: string, url: string, raw: Raw): Effect.Effect<never, CloudError> =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const { message, retryAfter } = errorMessage(raw.text)
        const kind = classifyStatus(raw.status, message ?? "")
        const ra = parseRetryAfter(raw.headers["retry-after"] ?? retryAfter, now)
        return yield* Effect.fail(err(op, kind, `${raw.status} from ${hostOf(url)}${message ? `: ${message}` : ""}`, ra))
      })

    const transportError = (op: string, url: string, t: Transport) =>
      t._tag === "Timeout"
        ? err(op, "timeout", `no answer from ${hostOf(url)} within ${config.api_timeout}s`)
        : err(op, "api", `cannot talk to ${hostOf(url)}: ${t.message}`)

    const decode = <A, I>(op: string, url: string, schema: Schema.Schema<A, I>, text: string): Either.Either<A, CloudError> => {
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        return Either.left(err(op, "api", `${hostOf(url)} answered with something that is not JSON: ${JSON.stringify(text.slice(0, 80))}`))
      }
      return Either.mapLeft(Schema.decodeUnknownEither(schema)(json), (e) =>
        err(op, "api", `unexpected answer from ${hostOf(url)}: ${describeDecodeError(e)}`)
      )
    }

    const authenticate: Effect.Effect<Token, CloudError> = Effect.gen(function* () {
      const op = "authenticate"
      const req = HttpClientRequest.post(auth.url).pipe(
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyUnsafeJson(authBody(config))
      )
      const raw = yield* Effect.catchAll(exchange(req), (t) => Effect.fail(transportError(op, auth.url, t)))
      if (raw.status === 401) {
        const { message } = errorMessage(raw.text)
        return yield* Effect.fail(
          err(op, "auth", `Keystone at ${hostOf(auth.url)} refused the credentials of ${principal(config)}${message ? ` (${message})` : ""}`)
        )
      }
      if (raw.status !== 201 && raw.status !== 200) return yield* failure(op, auth.url, raw)
      const id = raw.headers["x-subject-token"]
      if (id === undefined || id === "") return yield* Effect.fail(err(op, "api", `Keystone at ${hostOf(auth.url)} sent no X-Subject-Token header`))
      const body = yield* decode(op, auth.url, TokenResponse, raw.text)
      const expiresAt = Date.parse(body.token.expires_at)
      if (Number.isNaN(expiresAt)) return yield* Effect.fail(err(op, "api", `token.expires_at: not a date: ${JSON.stringify(body.token.expires_at)}`))
      const now = yield* Clock.currentTimeMillis
      const issued = body.token.issued_at != null ? Date.parse(body.token.issued_at) : NaN
      // Renew a quarter of the lifetime (at most 5 minutes) before expiry.
      const lifetime = Math.max(0, expiresAt - (Number.isNaN(issued) ? now : issued))
      const token: Token = {
        id,
        expiresAt,
        renewAt: expiresAt - Math.min(MAX_RENEW_MARGIN_MS, lifetime / 4),
        catalog: body.token.catalog,
        user: body.token.user?.name ?? null,
        project: body.token.project?.name ?? null
      }
      yield* Ref.set(current, Option.some(token))
      return token
    })

    /** A valid token; `stale` is one a service just refused, to be replaced unless someone already did. */
    const tokenFor = (stale: string | null): Effect.Effect<Token, CloudError> =>
      authLock.withPermits(1)(
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const cur = yield* Ref.get(current)
          if (Option.isSome(cur) && cur.value.id !== stale && now < cur.value.renewAt) return cur.value
          return yield* authenticate
        })
      )

    const endpointOf = (token: Token, service: Service): Either.Either<string, CloudError> => {
      const entries = token.catalog.filter((c) => c.type === service)
      const eps = entries.flatMap((c) => c.endpoints).filter((e) => e.interface === config.interface)
      const inRegion = config.region === null ? eps : eps.filter((e) => e.region_id === config.region || e.region === config.region)
      if (inRegion.length > 0) return Either.right(inRegion[0].url.replace(/\/+$/, ""))
      const regions = [...new Set(eps.map((e) => e.region_id ?? e.region).filter((r) => r != null))]
      return Either.left(
        err(
          "catalog",
          "notfound",
          `the service catalogue has no ${config.interface} ${service} endpoint${config.region !== null ? ` in region ${config.region}` : ""}` +
            (regions.length > 0 ? ` (regions offered: ${regions.join(", ")})` : entries.length === 0 ? ` (no ${service} service at all)` : "")
        )
      )
    }

    // slows the calls down once the cloud throttles them (HTTP 429)
    const callRate = o.callRate ?? makeCallRate()
    const call = <A, I>(c: CallOptions<A, I>): Effect.Effect<Reply<A>, CloudError> => callRate.around(callOnce(c))
    const callOnce = <A, I>(c: CallOptions<A, I>): Effect.Effect<Reply<A>, CloudError> =>
      Effect.gen(function* () {
        const idempotent = c.method !== "POST"
        let stale: string | null = null
        let retried = false
        for (let attempt = 0; ; attempt++) {
          const token: Token = yield* tokenFor(stale)
          const base: string = yield* endpointOf(token, c.service)
          const url = /^https?:\/\//.test(c.path) ? c.path : `${base}${c.path}`
          let req = HttpClientRequest.make(c.method)(url).pipe(
            HttpClientRequest.acceptJson,
            HttpClientRequest.setHeader("X-Auth-Token", token.id),
            HttpClientRequest.setUrlParams(c.query ?? {})
          )
          if (c.service === "compute") {
            req = HttpClientRequest.setHeaders(req, {
              "OpenStack-API-Version": `compute ${COMPUTE_MICROVERSION}`,
              "X-OpenStack-Nova-API-Version": COMPUTE_MICROVERSION
            })
          }
          if (c.body !== undefined) req = HttpClientRequest.bodyUnsafeJson(req, c.body)
          const r = yield* Effect.either(exchange(req))
          if (Either.isLeft(r)) {
            // A dropped connection on a call that may safely be repeated: once more, after a pause.
            if (idempotent && !retried && r.left._tag === "Transport") {
              retried = true
              yield* Effect.sleep(o.retryDelay)
              continue
            }
            return yield* Effect.fail(transportError(c.op, url, r.left))
          }
          const raw = r.right
          if (raw.status === 401 && stale === null) {
            // The token was revoked or expired early: authenticate again, once.
            stale = token.id
            continue
          }
          if (idempotent && !retried && (raw.status === 502 || raw.status === 503 || raw.status === 504) && raw.headers["retry-after"] === undefined) {
            retried = true
            yield* Effect.sleep(o.retryDelay)
            continue
          }
          if (c.accept?.includes(raw.status)) return { status: raw.status, body: undefined }
          if (raw.status < 200 || raw.status >= 300) return yield* failure(c.op, url, raw)
          if (c.schema === undefined) return { status: raw.status, body: undefined }
          const body = yield* decode(c.op, url, c.schema, raw.text)
          return { status: raw.status, body }
        }
      })

    return {
      token: tokenFor(null),
      endpoint: (service) => Effect.flatMap(tokenFor(null), (t) => endpointOf(t, service)),
      call
    }
  })

const hostOf = (url: string): string => {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

const transportMessage = (e: unknown): string => {
  const cause = (e as { cause?: unknown })?.cause
  const c = cause as { code?: string; message?: string } | undefined
  if (c?.code === "ECONNREFUSED") return "connection refused"
  if (c?.code === "ECONNRESET" || c?.code === "UND_ERR_SOCKET" || c?.code === "EPIPE") return "the connection was dropped"
  if (c?.code === "ENOTFOUND" || c?.code === "EAI_AGAIN") return "unknown host"
  if (c?.message) return c.message
  return (e as { message?: string })?.message ?? String(e)
}
