/**
 * `dyncluster plan --snapshot FILE | --from URL [--config FILE] [--policy NAME] [--json]`:
 * what the scaler would do right now with the nodes and jobs of a snapshot
 * (saved from a daemon's REST API, or read live from it). Nothing is booted,
 * held or destroyed: the engine runs one step against layers that only record.
 */
import { Command, Options } from "@effect/cli"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Console, Effect, Either, Option } from "effect"
import { readFileSync } from "node:fs"
import { decodeSnapshot, parseSnapshotText, planJson, planSnapshot, planText, PlanError, type PlanSnapshot } from "../engine/plan.ts"
import { loadConfigFile, type ConfigFile } from "../model/config.ts"
import { policyHelp } from "./options.ts"

const snapshot = Options.file("snapshot", { exists: "either" }).pipe(
  Options.optional,
  Options.withDescription('a JSON file {"workernodes": [...], "jobs": [...], "resources": [...]} as GET /workernode, /job and /resource return them')
)
const from = Options.text("from").pipe(
  Options.optional,
  Options.withDescription("read the snapshot live from a running daemon's API, e.g. http://127.0.0.1:8001 (bearer token from $DYNCLUSTER_TOKEN)")
)
const config = Options.file("config", { exists: "either" }).pipe(
  Options.optional,
  Options.withDescription("the scaler configuration to plan with (default: what the snapshot's resources carry, default settings)")
)
const policy = Options.text("policy").pipe(Options.optional, Options.withDescription(`provisioning policy (overrides the configuration): ${policyHelp()}`))
const json = Options.boolean("json").pipe(Options.withDescription("print the decisions as JSON"))

const readFile = (path: string): Either.Either<PlanSnapshot, PlanError> => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, not a file" : (e as Error).message
    return Either.left(new PlanError({ message: `${path}: cannot read the snapshot: ${why}` }))
  }
  return parseSnapshotText(text, path)
}

/** GET /workernode, /job and /resource of a daemon, decoded as one snapshot. */
export const fetchSnapshot = (base: string, token: string | undefined = process.env.DYNCLUSTER_TOKEN) =>
  Effect.gen(function* () {
    let url: URL
    try {
      url = new URL(base)
    } catch {
      return yield* Effect.fail(new PlanError({ message: `--from: not a URL: ${JSON.stringify(base)}` }))
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      return yield* Effect.fail(new PlanError({ message: `--from: expected an http:// or https:// URL, got ${JSON.stringify(base)}` }))
    const root = url.href.replace(/\/+$/, "")
    const client = yield* HttpClient.HttpClient
    const get = (path: string) =>
      Effect.gen(function* () {
        let req = HttpClientRequest.get(root + path)
        if (token !== undefined && token !== "") req = HttpClientRequest.bearerToken(req, token)
        const res = yield* client.execute(req)
        const text = yield* res.text
        if (res.status !== 200) return yield* Effect.fail(new PlanError({ message: `GET ${root + path}: HTTP ${res.status}: ${text.slice(0, 200).trim()}` }))
        try {
          return JSON.parse(text) as unknown
        } catch (e) {
          return yield* Effect.fail(new PlanError({ message: `GET ${root + path}: not JSON (${(e as Error).message})` }))
        }
      }).pipe(
        Effect.catchTags({
          RequestError: (e) => Effect.fail(new PlanError({ message: `GET ${root + path}: ${e.message}` })),
          ResponseError: (e) => Effect.fail(new PlanError({ message: `GET ${root + path}: ${e.message}` }))
        })
      )
    const [workernodes, jobs, resources] = yield* Effect.all([get("/workernode"), get("/job"), get("/resource")])
    return yield* Either.match(decodeSnapshot({ workernodes, jobs, resources }, `snapshot from ${root}`), {
      onLeft: (e) => Effect.fail(e),
      onRight: (s) => Effect.succeed(s)
    })
  }).pipe(Effect.provide(FetchHttpClient.layer))

export interface PlanCliArgs {
  readonly snapshot: Option.Option<string>
  readonly from: Option.Option<string>
  readonly config: Option.Option<string>
  readonly policy: Option.Option<string>
  readonly json: boolean
}

/** The command's work, without printing: the decisions as text or JSON, or a PlanError. */
export const runPlan = (a: PlanCliArgs): Effect.Effect<string, PlanError> =>
  Effect.gen(function* () {
    if (Option.isSome(a.snapshot) === Option.isSome(a.from))
      return yield* Effect.fail(new PlanError({ message: "give exactly one of --snapshot FILE or --from URL" }))
    const snap = Option.isSome(a.snapshot)
      ? yield* Either.match(readFile(a.snapshot.value), { onLeft: Effect.fail, onRight: Effect.succeed })
      : yield* fetchSnapshot(Option.getOrThrow(a.from))
    let cfg: ConfigFile | undefined
    if (Option.isSome(a.config)) {
      const c = loadConfigFile(a.config.value)
      if (Either.isLeft(c)) return yield* Effect.fail(new PlanError({ message: c.left.message }))
      cfg = c.right.config
    }
    const p = yield* planSnapshot(snap, {
      ...(cfg !== undefined ? { config: cfg } : {}),
      ...(Option.isSome(a.policy) ? { policy: a.policy.value } : {})
    })
    return a.json ? JSON.stringify(planJson(p), null, 2) : planText(p, snap)
  })

export const planCommand = Command.make("plan", { snapshot, from, config, policy, json }, (args) =>
  runPlan(args).pipe(
    Effect.flatMap((out) => Console.log(out)),
    Effect.catchTag("PlanError", (e) =>
      Effect.zipRight(
        Console.error(e.message),
        Effect.sync(() => process.exit(1))
      )
    )
  )
).pipe(Command.withDescription("What would the scaler do right now? Runs one engine step on a snapshot of the REST API; changes nothing"))
