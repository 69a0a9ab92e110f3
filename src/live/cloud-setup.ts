/**
 * What the live cloud layers (OpenStack, EC2) share: the start-up error that
 * names `cloud.<res>.config.<key>`, decoding a resource's `config` with its
 * cloud's schema, the per-resource service they return, Retry-After, and host
 * names by reverse DNS (injectable, so tests never ask a real resolver).
 */
import type { CallRate } from "./call-rate.ts"
import type { HttpClient } from "@effect/platform"
import { Data, Duration, Effect, Either, Layer, ParseResult, Random, Schema, type Scope } from "effect"
import { promises as dns } from "node:dns"
import { Cloud, type CloudError, type CloudService } from "../engine/services.ts"
import { formatParseError, unknownKeys, type ResourceConfig } from "../model/config.ts"
import { isHostname } from "./command.ts"

// ---------------------------------------------------------------- errors

/** A resource that cannot work as configured: every problem, each naming its key. */
export class CloudSetupError extends Data.TaggedError("CloudSetupError")<{
  readonly resource: string
  readonly problems: ReadonlyArray<string>
}> {
  override get message(): string {
    return this.problems.join("\n")
  }
}

// ---------------------------------------------------------------- config

export interface Decoded<A> {
  readonly config: A
  /** Unknown keys and other things worth telling (never a secret). */
  readonly warnings: ReadonlyArray<string>
}

/** Decodes `cloud.<resource>.config`; problems name the full key path. */
export const decodeCloudConfig = <A, I>(
  schema: Schema.Schema<A, I>,
  resource: string,
  raw: unknown
): Either.Either<Decoded<A>, CloudSetupError> => {
  const at = `cloud.${resource}.config`
  const r = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })(raw ?? {})
  if (Either.isLeft(r)) {
    const problems = formatParseError(r.left).map((l) => (l.startsWith("(top level)") ? at + l.slice("(top level)".length) : `${at}.${l}`))
    return Either.left(new CloudSetupError({ resource, problems }))
  }
  const warnings = unknownKeys(schema, raw ?? {}).map((k) => `${at}.${k}: unknown key, ignored`)
  return Either.right({ config: r.right, warnings })
}

/** Instance name prefixes become host names and filters: keep them plain. */
export const PrefixSchema = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/)
).annotations({ message: () => "expected a name prefix of letters, digits, '.', '_' or '-' (it starts every instance name)" })

export const Seconds = Schema.Number.pipe(Schema.positive()).annotations({ message: () => "expected a positive number (seconds)" })

/** Formats a Schema error on an API response (paths like `servers.0.status`). */
export const describeDecodeError = (e: ParseResult.ParseError): string => formatParseError(e).slice(0, 3).join("; ")

// ---------------------------------------------------------------- the per-resource service

/** One resource's cloud: the Cloud service for its instances, plus an online probe. */
export interface ResourceCloud extends CloudService {
  readonly resource: string
  readonly type: string
  readonly warnings: ReadonlyArray<string>
  /**
   * Reachability check for `check-config --online`: authenticate and look up
   * what boots need (flavour / instance type). Succeeds with a plain sentence.
   */
  readonly probe: Effect.Effect<string, CloudError>
}

/** Reverse DNS lookup: the names of an address. */
export type ReverseDns = (ip: string) => Promise<ReadonlyArray<string>>

export const systemReverseDns: ReverseDns = (ip) => dns.reverse(ip)

export interface LiveCloudOptions {
  /** Reverse DNS (default: the system resolver). Tests inject their own. */
  readonly reverseDns?: ReverseDns
  /** The HTTP client for REST clouds (default: a NodeHttpClient owned by the layer's scope). */
  readonly http?: HttpClient.HttpClient
  /** Pause before the one retry of an idempotent call after a dropped connection or a 502/503/504 (default 1 s). */
  readonly retryDelay?: Duration.DurationInput
  /** The client's call rate (tests: to look at it); default: a fresh one per resource (call-rate.ts). */
  readonly callRate?: CallRate
}

/** Builds one resource's cloud from its configuration; fails with every configuration problem. */
export type CloudFactory = (
  resource: string,
  rc: ResourceConfig,
  options?: LiveCloudOptions
) => Effect.Effect<ResourceCloud, CloudSetupError, Scope.Scope>

/** What a cloud kind's layer (layerOpenStackCloud, layerEc2Cloud) is built with besides its resource's section. */
export interface CloudLayerSetup {
  /** Where the configuration warnings of the resource go (warn, with the resource's name). */
  readonly log?: { readonly log: (level: "error" | "warn" | "info" | "debug", msg: string, fields?: Record<string, unknown>) => void }
  readonly options?: LiveCloudOptions
}

/**
 * One resource's Cloud layer from its client (a CloudFactory's result): the
 * configuration warnings are logged when it is built; what the client owns
 * (HTTP connections) lives as long as the layer.
 */
export const layerResourceCloud = (
  client: Effect.Effect<ResourceCloud, CloudSetupError, Scope.Scope>,
  setup: CloudLayerSetup
): Layer.Layer<Cloud, CloudSetupError> =>
  Layer.scoped(
    Cloud,
    Effect.tap(client, (c) =>
      Effect.sync(() => {
        for (const w of c.warnings) setup.log?.log("warn", w, { resource: c.resource })
      })
    )
  )

// ---------------------------------------------------------------- helpers

/**
 * Seconds from a Retry-After header (delta seconds or an HTTP date), or
 * undefined when absent or unreadable.
 */
export const parseRetryAfter = (value: string | undefined | null, nowMs: number): number | undefined => {
  if (value === undefined || value === null) return undefined
  const v = value.trim()
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v)
  const t = Date.parse(v)
  if (Number.isNaN(t)) return undefined
  return Math.max(0, Math.ceil((t - nowMs) / 1000))
}

/**
 * The host name of an address by reverse DNS, within `timeoutSeconds`;
 * the fallback (the instance name) when there is no usable answer in time.
 */
export const hostnameOf = (
  ip: string,
  fallback: string,
  reverse: ReverseDns,
  timeoutSeconds: number
): Effect.Effect<string> =>
  Effect.tryPromise(() => reverse(ip)).pipe(
    Effect.timeout(Duration.seconds(timeoutSeconds)),
    Effect.map((names) => {
      for (const n of names) {
        const h = n.replace(/\.$/, "")
        // a resolver that calls every address "localhost" would give all nodes one name
        if (h.length > 0 && isHostname(h) && !/^localhost(\.|$)/i.test(h)) return h
      }
      return fallback
    }),
    Effect.orElseSucceed(() => fallback)
  )

/** `prefix-` names of one resource must not also be `prefix-` names of another. */
export const overlappingPrefixes = (prefixes: ReadonlyArray<readonly [string, string]>): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const [ra, pa] of prefixes)
    for (const [rb, pb] of prefixes) {
      if (ra === rb || (pa === pb && ra > rb)) continue
      if ((pb + "-").startsWith(pa + "-")) {
        out.push(
          `cloud.${ra}.config.instance_name_prefix: "${pa}" is also the start of cloud.${rb}'s prefix "${pb}"; ` +
            `the instances of ${rb} would be taken for ${ra}'s (and destroyed at start-up): choose prefixes that do not start one another`
        )
      }
    }
  return out
}

/** Lower-case letters and digits for instance name suffixes. */
export const SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
/** Characters of the random part of an instance name (36^8 ≈ 2.8e12 names per prefix). */
export const SUFFIX_LENGTH = 8

/**
 * A new instance's name, `<prefix>-<8 lower-case letters or digits>`, drawn
 * from the Random service (seedable with Effect.withRandom); both live clouds
 * name their VMs with it, and find their own by the `<prefix>-` start.
 */
export const newInstanceName = (prefix: string): Effect.Effect<string> =>
  Effect.map(
    Effect.forEach(Array.from({ length: SUFFIX_LENGTH }), () => Random.nextIntBetween(0, SUFFIX_ALPHABET.length)),
    (ix) => `${prefix}-${ix.map((i) => SUFFIX_ALPHABET[i]).join("")}`
  )
