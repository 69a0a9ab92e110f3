/**
 * Issue 20, finding 1: no message, log line or API answer contains a
 * secret's value, however malformed. fast-check puts random values
 * (numbers, lists, maps, strings with quotes, nested) under every secret key
 * of a configuration (OpenStack password and application credential secret,
 * AWS secret key and session token, the REST API token) and collects what
 * start-up and `check-config` would print (configuration errors and
 * warnings, every cloud section's problems), what the REST API shows of the
 * configuration and what a log line with it as fields looks like: no leaf of
 * the value appears anywhere.
 */
import { Effect, Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { stringify } from "yaml"
import { formatLine, makeLogSink, secretValues } from "../daemon/log.ts"
import { checkClouds, makeLiveClouds } from "../live/cloud.ts"
import { parseConfigText, redactSecrets } from "./config.ts"

process.env.AWS_EC2_METADATA_DISABLED = "true"

const base = () => ({
  "dynamic-cluster": { "admin-server": { port: 8001, token: "tok-placeholder-1" } },
  cluster: { type: "torque" },
  cloud: {
    os: {
      type: "openstack",
      quantity: { min: 0, max: 2 },
      config: {
        auth_url: "http://127.0.0.1:1/v3",
        username: "demo",
        password: "pw-placeholder-1",
        project: "demo",
        image_uuid: "img",
        flavor: "m1.small",
        instance_name_prefix: "oswn"
      }
    },
    osac: {
      type: "openstack",
      quantity: { min: 0, max: 2 },
      config: {
        auth_url: "http://127.0.0.1:1/v3",
        application_credential_id: "ac-id",
        application_credential_secret: "acs-placeholder-1",
        image_uuid: "img",
        flavor: "m1.small",
        instance_name_prefix: "acwn"
      }
    },
    aws: {
      type: "aws",
      quantity: { min: 0, max: 2 },
      config: {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "sak-placeholder-1",
        session_token: "st-placeholder-1",
        region_name: "eu-west-1",
        image_id: "ami-1",
        instance_type: "t3.micro",
        instance_name_prefix: "awswn",
        endpoint_url: "http://127.0.0.1:1"
      }
    }
  }
})

/** Where secrets live: a setter per key path. */
const SECRET_PATHS: ReadonlyArray<ReadonlyArray<string>> = [
  ["dynamic-cluster", "admin-server", "token"],
  ["cloud", "os", "config", "password"],
  ["cloud", "osac", "config", "application_credential_secret"],
  ["cloud", "aws", "config", "secret_access_key"],
  ["cloud", "aws", "config", "session_token"]
]

const put = (doc: any, path: ReadonlyArray<string>, v: unknown) => {
  let o = doc
  for (const k of path.slice(0, -1)) o = o[k]
  o[path[path.length - 1]] = v
}

/** Values nobody would find by chance in a message: long numbers, marked strings with quotes and escapes. */
const marker = fc.stringMatching(/^[A-Za-z0-9]{4,10}$/).map((s) => `Zq${s}`)
const leaf = fc.oneof(
  fc.integer({ min: 100_000_000, max: Number.MAX_SAFE_INTEGER }),
  fc.tuple(marker, fc.constantFrom(`"`, `'`, `\\`, `"'`, ` `, `\\"`, ``), fc.string({ maxLength: 6 })).map(([m, q, s]) => `${m}${q}${s}${q}`)
)
const secretValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, leaf, fc.array(tie("value"), { maxLength: 3 }), fc.dictionary(marker, tie("value"), { maxKeys: 3 })),
}))["value"]

/** Every leaf (and map key) of a value as it could be printed. */
const leaves = (v: unknown): Array<string> => {
  if (Array.isArray(v)) return v.flatMap(leaves)
  if (v !== null && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => [k, ...leaves(x)])
  if (typeof v === "string") {
    // the marked part alone is enough to find it, escaped or not
    const m = /^Zq[A-Za-z0-9]+/.exec(v)
    return m !== null ? [m[0]] : []
  }
  return [String(v)]
}

/** Everything the configuration's readers would print. */
const outputs = async (doc: unknown): Promise<string> => {
  const out: Array<string> = []
  const r = parseConfigText(stringify(doc), "dc.yaml")
  if (Either.isLeft(r)) {
    out.push(r.left.message, ...r.left.problems)
    return out.join("\n")
  }
  out.push(...r.right.warnings)
  const cfg = r.right.config
  const report = await Effect.runPromise(checkClouds(cfg, false).pipe(Effect.scoped))
  out.push(...report.problems, ...report.warnings)
  const live = await Effect.runPromise(Effect.either(makeLiveClouds(cfg)).pipe(Effect.scoped))
  if (Either.isLeft(live)) out.push(...live.left.problems)
  else out.push(...live.right.warnings)
  out.push(JSON.stringify(redactSecrets(JSON.parse(JSON.stringify(cfg)))))
  out.push(formatLine("json", 0, "info", "configuration", { config: cfg }), formatLine("text", 0, "info", "configuration", { cloud: cfg.cloud }))
  // the daemon's log masks every secret value wherever it appears (e.g. a hook command line that carries one)
  const sink = makeLogSink({ level: "debug", format: "text", secrets: secretValues(doc), out: (l) => out.push(l) })
  for (const v of secretValues(doc)) sink.log("warn", `post_vm_destroy_command failed: /usr/local/bin/cleanup --key ${v} wn-1`, { hook: "post_vm_destroy_command", args: [v] })
  sink.close()
  return out.join("\n")
}

describe("secrets never appear in any output (property)", () => {
  it("the issue's example: a numeric secret_access_key is reported by path, without its value", async () => {
    const doc = base()
    put(doc, ["cloud", "aws", "config", "secret_access_key"], 987654321987)
    const text = await outputs(doc)
    expect(text).toContain("cloud.aws.config.secret_access_key: expected a string, got a number (not shown: a secret)")
    expect(text).not.toContain("987654321987")
  })

  it("a numeric, list or map OpenStack password is reported by path, without its value", async () => {
    for (const v of [123456789012, ["hunter2hunter2"], { Zqkey: "Zqval123" }]) {
      const doc = base()
      put(doc, ["cloud", "os", "config", "password"], v)
      const text = await outputs(doc)
      expect(text).toMatch(/cloud\.os\.config\.password: .*not shown: a secret/)
      for (const l of leaves(v)) expect(text).not.toContain(l)
    }
  })

  it("random values under every secret key never show up", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SECRET_PATHS), secretValue, async (path, value) => {
        const doc = base()
        put(doc, path, value)
        const text = await outputs(doc)
        for (const l of leaves(value)) if (l.length >= 6) expect(text, `${path.join(".")} = ${JSON.stringify(value)}`).not.toContain(l)
      }),
      { numRuns: 150 }
    )
  })
})
