/**
 * The Cloud dispatcher over all resources, start-up problems reported all at
 * once, and `dyncluster check-config --online` against the fake clouds on
 * 127.0.0.1 (the real command, in a child process).
 */
import { Duration, Effect, Either, Exit, Scope } from "effect"
import { execa } from "execa"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeConfig, type ConfigFile } from "../model/config.ts"
import { InstanceState } from "../model/types.ts"
import { checkClouds, makeLiveClouds } from "./cloud.ts"
import { FakeEc2 } from "./ec2/testing/fakeEc2.ts"
import { FakeOpenStack } from "./openstack/testing/fakeOpenStack.ts"

process.env.AWS_EC2_METADATA_DISABLED = "true"

const root = fileURLToPath(new URL("../../", import.meta.url))
const scratch = mkdtempSync(join(tmpdir(), "dyncluster-clouds-"))
let os: FakeOpenStack
let ec2: FakeEc2
let scope: Scope.CloseableScope
beforeAll(async () => {
  os = await new FakeOpenStack().start()
  ec2 = await new FakeEc2().start()
  scope = Effect.runSync(Scope.make())
})
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await os.stop()
  await ec2.stop()
  rmSync(scratch, { recursive: true, force: true })
})

const osSection = (over: Record<string, unknown> = {}) => ({
  type: "openstack",
  quantity: { min: 0, max: 2 },
  config: {
    auth_url: os.authUrl,
    username: "demo",
    password: "secret",
    project: "demo",
    image_uuid: os.images[0],
    flavor: "m1.large",
    instance_name_prefix: "oswn",
    api_timeout: 5,
    ...over
  }
})
const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
const awsSection = (over: Record<string, unknown> = {}) => ({
  type: "aws",
  priority: 2,
  quantity: { min: 0, max: 2 },
  config: {
    access_key_id: "AKIDFAKE",
    secret_access_key: "fake-secret",
    region_name: "eu-west-1",
    image_id: ec2.images[0],
    instance_type: "t3.micro",
    instance_name_prefix: "awswn",
    endpoint_url: ec2.url,
    max_attempts: 1,
    api_timeout: 5,
    ...over
  }
})
const configOf = (cloud: Record<string, any>): ConfigFile => {
  for (const r of Object.values(cloud)) r.config = defined(r.config)
  const d = decodeConfig({ cluster: { type: "torque" }, cloud }, "test")
  if (Either.isLeft(d)) throw d.left
  return d.right.config
}

describe("one Cloud service over all resources", () => {
  it("routes each call to the client of its resource", async () => {
    const clouds = await Effect.runPromise(
      makeLiveClouds(configOf({ os: osSection(), aws: awsSection() }), { reverseDns: os.reverseDns, retryDelay: Duration.millis(10) }).pipe(Scope.extend(scope))
    )
    const svc = clouds.service
    expect(await Effect.runPromise(svc.coresPerNode("os"))).toBe(8)
    expect(await Effect.runPromise(svc.coresPerNode("aws"))).toBe(2)
    const a = await Effect.runPromise(svc.boot("os"))
    const b = await Effect.runPromise(svc.boot("aws"))
    expect(a.instance_name).toMatch(/^oswn-/)
    expect(b.instance_name).toMatch(/^awswn-/)
    expect(os.live().length).toBe(1)
    expect(ec2.live().length).toBe(1)
    await Effect.runPromise(svc.destroy(b))
    expect(ec2.live()[0].state).toBe("shutting-down")
    expect((await Effect.runPromise(svc.refresh(a))).state).toBe(InstanceState.Pending)
    const e = await Effect.runPromise(Effect.either(svc.list("nope")))
    expect(Either.isLeft(e) && e.left.message).toBe("no cloud resource nope in the configuration")
    os.servers.clear()
    ec2.reset()
  })

  it("reports every resource's problems at once, overlapping prefixes included", async () => {
    const r = await Effect.runPromise(
      Effect.either(
        makeLiveClouds(
          configOf({
            a: osSection({ instance_name_prefix: "wn" }),
            b: awsSection({ instance_name_prefix: "wn-gpu", region_name: undefined }),
            c: osSection({ instance_name_prefix: "wn-gpu", flavor: undefined })
          })
        ).pipe(Effect.scoped)
      )
    )
    expect(Either.isLeft(r)).toBe(true)
    const msg = Either.isLeft(r) ? r.left.problems : []
    expect(msg).toContain("cloud.b.config.region_name: is required but missing")
    expect(msg).toContain("cloud.c.config.flavor: is required but missing")
    expect(msg.filter((m) => /instance_name_prefix: "wn" is also the start of cloud\.(b|c)'s prefix "wn-gpu"/.test(m)).length).toBe(2)
    expect(msg.filter((m) => /cloud\.b\.config\.instance_name_prefix: "wn-gpu" is also the start of cloud\.c's/.test(m)).length).toBe(1)
  })
})

describe("check-config --online", () => {
  it("says per resource what works and what does not, in plain words", async () => {
    const report = await Effect.runPromise(
      checkClouds(configOf({ good: osSection(), bad: osSection({ password: "nope", instance_name_prefix: "other" }), aws: awsSection() }), true).pipe(Effect.scoped)
    )
    expect(report.problems).toEqual([])
    const by = Object.fromEntries(report.checks.map((c) => [c.resource, c]))
    expect(by.good.ok).toBe(true)
    expect(by.good.message).toMatch(/authenticated as demo in project demo; compute endpoint .*; flavour m1\.large has 8 vCPUs/)
    expect(by.bad.ok).toBe(false)
    expect(by.bad.message).toMatch(/^authenticate failed \(auth\): Keystone at 127\.0\.0\.1:\d+ refused the credentials of user demo .* — check the credentials/)
    expect(by.aws.ok).toBe(true)
    expect(by.aws.message).toMatch(/t3\.micro has 2 vCPUs/)
  })

  it("the command: offline and online, exit codes and messages", async () => {
    const ud = join(scratch, "ud.sh")
    writeFileSync(ud, "echo {{ minion_id }}\n")
    const yaml = (osCfg: Record<string, unknown>, awsCfg: Record<string, unknown>) =>
      JSON.stringify({
        "dynamic-cluster": { "config-checker": { port: { number: 22 } } },
        cluster: { type: "torque" },
        cloud: { "os-res": osSection({ userdata_file: ud, ...osCfg }), "aws-res": awsSection(awsCfg) }
      })
    const run = (...args: Array<string>) => execa("node", ["bin/dyncluster.js", "check-config", ...args], { cwd: root, reject: false, env: { AWS_EC2_METADATA_DISABLED: "true" } })

    // offline means offline (in-process: one CLI start-up fewer)
    os.requests.length = 0
    ec2.requests.length = 0
    const offline = await Effect.runPromise(checkClouds(configOf(JSON.parse(yaml({}, {})).cloud), false).pipe(Effect.scoped))
    expect(offline).toEqual({ problems: [], warnings: [], checks: [] })
    expect(os.requests.length + ec2.requests.length).toBe(0)

    const mixed = join(scratch, "mixed.yaml")
    writeFileSync(mixed, yaml({}, { access_key_id: "AKIDWRONG" }))
    const on = await run(mixed, "--online")
    expect(on.exitCode, on.stderr).toBe(1)
    expect(on.stdout).toMatch(/^os-res \(openstack\): reachable — authenticated as demo in project demo; .* flavour m1\.large has 8 vCPUs/m)
    expect(on.stderr).toMatch(/^aws-res \(aws\): NOT usable — instance type failed \(auth\): AuthFailure: AWS was not able to validate the provided access credentials — check the credentials/m)
    // never "OK" and then "NOT usable" (issue 20, finding 6): the verdict comes after the online checks
    expect(on.stdout + on.stderr).not.toMatch(/: OK —/)
    expect(on.stderr).toMatch(/mixed\.yaml: the configuration is valid, but 1 of 2 cloud resource\(s\) is not usable \(aws-res\)/)
    expect(on.stdout + on.stderr).not.toMatch(/fake-secret/)

    const broken = join(scratch, "broken.yaml")
    writeFileSync(
      broken,
      JSON.stringify({
        "dynamic-cluster": { "config-checker": { plugin: { name: "dynamiccluster.saltchecker.SaltChecker" } }, post_vm_provision_command: "x {9}" },
        cluster: { type: "torque" },
        cloud: { "os-res": osSection({ userdata_file: join(scratch, "missing.sh") }) }
      })
    )
    const b = await run(broken)
    expect(b.exitCode).toBe(1)
    expect(b.stderr).toMatch(/dynamic-cluster\.config-checker\.plugin\.name: the checker plugin "dynamiccluster\.saltchecker\.SaltChecker" is not available/)
    expect(b.stderr).toMatch(/dynamic-cluster\.post_vm_provision_command: uses \{9\}/)
    expect(b.stderr).toMatch(/cloud\.os-res\.config\.userdata_file: .*missing\.sh: no such file/)
    // two CLI start-ups: a few seconds on a quiet machine, much more when the machine is busy
  }, 180_000)
})
