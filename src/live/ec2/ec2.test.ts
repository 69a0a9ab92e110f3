/**
 * The EC2 layer (the real @aws-sdk/client-ec2 v3) against the in-process
 * fake EC2 on 127.0.0.1: Query-protocol requests as EC2 expects them, XML
 * answers and error codes as the EC2 API reference shows them.
 */
import { Effect, Either, Exit, Scope } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer as createHttpServer, type Server as HttpServer } from "node:http"
import { connect, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import type { CloudError } from "../../engine/services.ts"
import type { ResourceConfig } from "../../model/config.ts"
import { InstanceState, type Instance } from "../../model/types.ts"
import type { ResourceCloud } from "../cloud-setup.ts"
import { spotInterruption } from "../../engine/spot.ts"
import { makeCallRate } from "../call-rate.ts"
import { awsFactory } from "./cloud.ts"
import { FakeEc2 } from "./testing/fakeEc2.ts"

// Never let the SDK look for an instance role at 169.254.169.254 or read the developer's ~/.aws.
process.env.AWS_EC2_METADATA_DISABLED = "true"
process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/credentials"
process.env.AWS_CONFIG_FILE = "/nonexistent/config"
delete process.env.AWS_PROFILE

const scratch = mkdtempSync(join(tmpdir(), "dyncluster-ec2-"))
const userdata = join(scratch, "userdata.sh")
writeFileSync(userdata, "#cloud-config\nhostname: {{minion_id}}\n")

let fake: FakeEc2
let scope: Scope.CloseableScope
beforeAll(async () => {
  fake = await new FakeEc2().start()
  scope = Effect.runSync(Scope.make())
})
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await fake.stop()
  rmSync(scratch, { recursive: true, force: true })
})
afterEach(() => fake.reset())

const rc = (config: Record<string, unknown>): ResourceConfig => ({
  type: "aws",
  priority: 1,
  quantity: { min: 0, max: 3 },
  reservation: { queue: null, account: null, property: null },
  config
})
const base = (over: Record<string, unknown> = {}) => ({
  access_key_id: "AKIDFAKE",
  secret_access_key: "fake-secret",
  region_name: "us-east-1",
  image_id: "ami-0123456789abcdef0",
  instance_type: "m5.large",
  key_name: "cluster",
  security_groups: ["sg-0a1b2c3d", "ssh"],
  availability_zone: "us-east-1b",
  instance_name_prefix: "awswn",
  userdata_file: userdata,
  disk_map: { "/dev/sdb": { device: "/dev/sdb", size: 100, delete_on_termination: true }, ephemeral0: { device: "/dev/sdc" } },
  endpoint_url: fake.url,
  max_attempts: 1,
  api_timeout: 2,
  ...over
})
const make = (over: Record<string, unknown> = {}) =>
  Effect.runPromise(Effect.either(awsFactory("aws", rc(base(over)), { reverseDns: fake.reverseDns })).pipe(Scope.extend(scope)))
const cloudOf = async (over: Record<string, unknown> = {}): Promise<ResourceCloud> => {
  const r = await make(over)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}
const ok = <A>(e: Effect.Effect<A, CloudError>) => Effect.runPromise(e)
const err = async <A>(e: Effect.Effect<A, CloudError>): Promise<CloudError> => {
  const r = await Effect.runPromise(Effect.either(e))
  if (Either.isRight(r)) throw new Error(`expected a failure, got ${JSON.stringify(r.right)}`)
  return r.left
}
const sent = (action: string) => fake.requests.filter((r) => r.action === action)

describe("configuration", () => {
  it("names each problem with its key path", async () => {
    const r = await Effect.runPromise(
      Effect.either(awsFactory("aws-res", rc({ access_key_id: "AKID", instance_name_prefix: "awswn", disk_map: { d: { device: "/dev/sdb", size: -1 } } }))).pipe(Effect.scoped)
    )
    expect(Either.isLeft(r)).toBe(true)
    const msg = Either.isLeft(r) ? r.left.message : ""
    expect(msg).toMatch(/^cloud\.aws-res\.config\.region_name: is required but missing$/m)
    expect(msg).toMatch(/^cloud\.aws-res\.config\.image_id: is required but missing$/m)
    expect(msg).toMatch(/^cloud\.aws-res\.config\.instance_type: is required but missing$/m)
    expect(msg).toMatch(/^cloud\.aws-res\.config\.disk_map\.d\.size: expected a positive whole number of GiB, got -1$/m)
    const half = await make({ secret_access_key: null })
    expect(Either.isLeft(half) && half.left.message).toBe(
      "cloud.aws.config: access_key_id is set but secret_access_key is missing (give both, or neither to use the standard AWS credential chain)"
    )
    const proxy = await make({ proxy: "proxy.example.org" })
    expect(Either.isLeft(proxy) && proxy.left.message).toBe("cloud.aws.config: proxy is set but proxy_port is missing")
    const spot = await make({ spot_timeout: 300 })
    expect(Either.isLeft(spot) && spot.left.message).toMatch(/spot_timeout is set but spot_bid is missing/)
    const ud = await make({ userdata_file: join(scratch, "gone.yaml") })
    expect(Either.isLeft(ud) && ud.left.message).toMatch(/^cloud\.aws\.config\.userdata_file: .*gone\.yaml: no such file$/)
  })
})

describe("on-demand instances", () => {
  it("boots with a Name tag, idempotency token, groups, disks, zone and rendered user data", async () => {
    const c = await cloudOf()
    const inst = await ok(c.boot("aws"))
    expect(inst.instance_name).toMatch(/^awswn-[a-z0-9]{8}$/)
    expect(inst.uuid).toMatch(/^i-/)
    expect(inst.state).toBe(InstanceState.Starting)
    expect(inst.vcpu_number).toBe(2)
    const p = sent("RunInstances")[0].params
    expect(p).toMatchObject({
      ImageId: "ami-0123456789abcdef0",
      InstanceType: "m5.large",
      KeyName: "cluster",
      MinCount: "1",
      MaxCount: "1",
      ClientToken: inst.instance_name,
      "Placement.AvailabilityZone": "us-east-1b",
      "SecurityGroupId.1": "sg-0a1b2c3d",
      "SecurityGroup.1": "ssh",
      "TagSpecification.1.ResourceType": "instance",
      "TagSpecification.1.Tag.1.Key": "Name",
      "TagSpecification.1.Tag.1.Value": inst.instance_name,
      "BlockDeviceMapping.1.DeviceName": "/dev/sdb",
      "BlockDeviceMapping.1.Ebs.VolumeSize": "100",
      "BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
      "BlockDeviceMapping.2.DeviceName": "/dev/sdc",
      "BlockDeviceMapping.2.VirtualName": "ephemeral0"
    })
    expect(fake.vms.get(inst.uuid!)!.userData).toBe(`#cloud-config\nhostname: ${inst.instance_name}\n`)
    expect(sent("RunInstances")[0].accessKey).toBe("AKIDFAKE")
  })

  it("renders the boot's extra user-data values (slurm-resume's {{ slurm_node }})", async () => {
    writeFileSync(userdata, "#cloud-config\nhostname: {{minion_id}}\nslurm_node: {{ slurm_node }}\n")
    try {
      const c = await cloudOf()
      const inst = await ok(c.boot("aws", { userData: { slurm_node: "cloud7" } }))
      expect(fake.vms.get(inst.uuid!)!.userData).toBe(`#cloud-config\nhostname: ${inst.instance_name}\nslurm_node: cloud7\n`)
    } finally {
      writeFileSync(userdata, "#cloud-config\nhostname: {{minion_id}}\n")
    }
  })

  it("pending → running: Active with the private address and its reverse DNS name", async () => {
    const c = await cloudOf()
    const inst = await ok(c.boot("aws"))
    const r1 = await ok(c.refresh(inst))
    expect(r1.state).toBe(InstanceState.Starting)
    const r2 = await ok(c.refresh(r1))
    expect(r2.state).toBe(InstanceState.Active)
    expect(r2.ip).toMatch(/^10\.0\./)
    expect(r2.dns_name).toBe(`ip-${r2.ip!.replace(/\./g, "-")}.ec2.internal`)
    expect(r2.uuid).toBe(inst.uuid)
    expect(r2.vcpu_number).toBe(2)
    expect(r2.availability_zone).toBe("us-east-1b")
  })

  it("reverse_dns: false: no lookup, the instance name is the host name (as for OpenStack)", async () => {
    const asked: Array<string> = []
    const resolver = async (ip: string) => {
      asked.push(ip)
      return ["node-by-ptr.cluster.example.org"]
    }
    const build = async (over: Record<string, unknown>) => {
      const r = await Effect.runPromise(Effect.either(awsFactory("aws", rc(base(over)), { reverseDns: resolver })).pipe(Scope.extend(scope)))
      if (Either.isLeft(r)) throw new Error(r.left.message)
      const c = r.right
      const inst = await ok(c.boot("aws"))
      fake.settle()
      return { inst, r: await ok(c.refresh(inst)) }
    }
    const withLookup = await build({})
    expect(withLookup.r.dns_name).toBe("node-by-ptr.cluster.example.org")
    expect(asked).toEqual([withLookup.r.ip])
    for (const over of [{ reverse_dns: false }, { reverse_dns: false, use_public_ip_address: true }]) {
      const { inst, r } = await build(over)
      expect(r.state).toBe(InstanceState.Active)
      expect(r.dns_name).toBe(inst.instance_name)
    }
    expect(asked).toHaveLength(1)
    const bad = await make({ reverse_dns: "no" })
    expect(Either.isLeft(bad) && bad.left.message).toBe('cloud.aws.config.reverse_dns: expected true or false, got "no"')
  })

  it("use_public_ip_address: the public address and DNS name", async () => {
    const c = await cloudOf({ use_public_ip_address: true })
    const inst = await ok(c.boot("aws"))
    fake.settle()
    const r = await ok(c.refresh(inst))
    expect(r.ip).toMatch(/^203\.0\.113\./)
    expect(r.dns_name).toBe(`ec2-${r.ip!.replace(/\./g, "-")}.compute-1.amazonaws.com`)
  })

  it("in a subnet with a public IP: a network interface with group ids (names resolved once)", async () => {
    const c = await cloudOf({ subnet_id: "subnet-0abc", use_public_ip_address: true })
    await ok(c.boot("aws"))
    await ok(c.boot("aws"))
    expect(sent("DescribeSecurityGroups").length).toBe(1)
    const p = sent("RunInstances")[0].params
    expect(p).toMatchObject({
      "NetworkInterface.1.DeviceIndex": "0",
      "NetworkInterface.1.SubnetId": "subnet-0abc",
      "NetworkInterface.1.AssociatePublicIpAddress": "true",
      "NetworkInterface.1.SecurityGroupId.1": "sg-0a1b2c3d",
      "NetworkInterface.1.SecurityGroupId.2": "sg-0e0f0a0b"
    })
    expect(p["SecurityGroup.1"]).toBeUndefined()
    const priv = await cloudOf({ subnet_id: "subnet-0abc", security_groups: ["sg-0a1b2c3d"] })
    await ok(priv.boot("aws"))
    expect(sent("RunInstances")[2].params).toMatchObject({ SubnetId: "subnet-0abc", "SecurityGroupId.1": "sg-0a1b2c3d" })
    const missing = await cloudOf({ subnet_id: "subnet-0abc", security_groups: ["nope"] })
    expect(await err(missing.boot("aws"))).toMatchObject({ kind: "invalid", message: "security group(s) not found: nope" })
  })

  it("vCPUs come from DescribeInstanceTypes, asked once", async () => {
    const c = await cloudOf({ instance_type: "c5.4xlarge" })
    expect(await ok(c.coresPerNode("aws"))).toBe(16)
    await ok(c.boot("aws"))
    await ok(c.boot("aws"))
    expect(sent("DescribeInstanceTypes").length).toBe(1)
    const bad = await cloudOf({ instance_type: "m9.galactic" })
    expect(await err(bad.coresPerNode("aws"))).toMatchObject({ kind: "invalid" })
  })

  it("lists by tag:Name prefix through every page, without others' or terminated instances", async () => {
    const c = await cloudOf()
    for (let i = 0; i < 230; i++) fake.addForeign(`awswn-${String(i).padStart(4, "0")}`)
    fake.addForeign("awswn2-0001")
    fake.addForeign("other-0001")
    const gone = fake.addForeign("awswn-gone")
    gone.state = "terminated"
    const all = await ok(c.list("aws"))
    expect(all.length).toBe(230)
    expect(all.every((i) => i.instance_name!.startsWith("awswn-") && i.state === InstanceState.Active)).toBe(true)
    const pages = sent("DescribeInstances")
    expect(pages.length).toBe(3)
    expect(pages[0].params).toMatchObject({ "Filter.1.Name": "tag:Name", "Filter.1.Value.1": "awswn-*", MaxResults: "100" })
    expect(pages[1].params.NextToken).toBe("100")
  })

  it("destroy: shutting-down is Deleting, terminated is Inexistent; gone is fine", async () => {
    const c = await cloudOf()
    const inst = await ok(c.boot("aws"))
    fake.settle()
    fake.autoAdvance = false
    await ok(c.destroy(inst))
    expect((await ok(c.refresh(inst))).state).toBe(InstanceState.Deleting)
    fake.settle()
    expect((await ok(c.refresh(inst))).state).toBe(InstanceState.Inexistent)
    fake.vms.clear()
    await ok(c.destroy(inst))
  })

  it("an instance EC2 does not know yet is not taken for gone while it is young", async () => {
    const c = await cloudOf()
    const ghost: Instance = { ...(await ok(c.boot("aws"))), uuid: "i-0000000000000dead" }
    const young = await ok(c.refresh(ghost))
    expect(young.state).toBe(ghost.state)
    const old = await ok(c.refresh({ ...ghost, creation_time: ghost.creation_time - 3600 }))
    expect(old.state).toBe(InstanceState.Inexistent)
  })
})

describe("error codes map into the kinds the engine backs off from", () => {
  it.each([
    ["InsufficientInstanceCapacity", "capacity"],
    ["InstanceLimitExceeded", "quota"],
    ["VcpuLimitExceeded", "quota"],
    ["RequestLimitExceeded", "ratelimit"],
    ["UnauthorizedOperation", "auth"],
    ["InvalidParameterValue", "invalid"],
    ["InvalidAMIID.NotFound", "notfound"],
    ["InternalError", "api"],
    ["Unavailable", "api"],
    // HTTP 429 is a throttle whatever its code; another 5xx is transient (issue 20)
    ["TooManyRequestsException", "ratelimit"],
    ["SomethingBroke", "api"]
  ])("%s → %s", async (code, kind) => {
    const c = await cloudOf()
    await ok(c.coresPerNode("aws"))
    const status = code === "Unavailable" ? 503 : code === "TooManyRequestsException" ? 429 : code === "SomethingBroke" ? 502 : undefined
    fake.inject({ action: "RunInstances", fault: { kind: "error", code, message: `fake ${code}`, status } })
    const e = await err(c.boot("aws"))
    expect(e.kind).toBe(kind)
    expect(e.message).toMatch(new RegExp(`^${code.replace(".", "\\.")}: `))
  })

  it("the real fake's own refusals: capacity, instance limit, bad image, unknown keys", async () => {
    const c = await cloudOf()
    fake.capacityFailures = 1
    expect(await err(c.boot("aws"))).toMatchObject({ kind: "capacity" })
    fake.instanceLimit = 1
    await ok(c.boot("aws"))
    const e = await err(c.boot("aws"))
    expect(e.kind).toBe("quota")
    expect(e.message).toMatch(/current instance limit of 1/)
    const img = await cloudOf({ image_id: "ami-nope" })
    expect(await err(img.boot("aws"))).toMatchObject({ kind: "notfound" })
    const key = await cloudOf({ access_key_id: "AKIDWRONG" })
    const a = await err(key.list("aws"))
    expect(a.kind).toBe("auth")
    expect(a.message).toMatch(/^AuthFailure: AWS was not able to validate/)
    expect(a.message).not.toMatch(/fake-secret/)
  })

  it("the SDK retries throttling and 5xx when max_attempts allows; the ClientToken keeps it to one VM", async () => {
    const c = await cloudOf({ max_attempts: 3 })
    await ok(c.coresPerNode("aws"))
    fake.inject({ action: "RunInstances", fault: { kind: "drop" } })
    fake.inject({ action: "RunInstances", fault: { kind: "error", code: "InternalError" } })
    const inst = await ok(c.boot("aws"))
    expect(sent("RunInstances").length).toBe(3)
    expect(new Set(sent("RunInstances").map((r) => r.params.ClientToken)).size).toBe(1)
    expect(fake.live().length).toBe(1)
    expect(fake.live()[0].id).toBe(inst.uuid)
  })

  it("a dropped connection is an api error; a slow answer a timeout", async () => {
    const c = await cloudOf({ api_timeout: 0.5 })
    fake.inject({ action: "DescribeInstances", fault: { kind: "drop" } })
    expect((await err(c.list("aws"))).kind).toBe("api")
    fake.inject({ action: "DescribeInstances", fault: { kind: "delay", ms: 3000 } })
    const t0 = Date.now()
    const e = await err(c.list("aws"))
    expect(e.kind).toBe("timeout")
    expect(Date.now() - t0).toBeLessThan(2500)
  })
})

describe("spot instances", () => {
  const spotCfg = { spot_bid: 0.05, spot_timeout: 600 }

  it("requests a one-time spot instance valid for spot_timeout, tracks it to a tagged VM, and keeps its request id", async () => {
    const c = await cloudOf(spotCfg)
    const t0 = Date.now()
    const inst = await ok(c.boot("aws"))
    expect(inst.uuid).toMatch(/^sir-/)
    expect(inst.spot_id).toBe(inst.uuid)
    expect(inst.state).toBe(InstanceState.Pending)
    expect(inst.spot_price).toBe(0.05)
    const p = sent("RequestSpotInstances")[0].params
    expect(p).toMatchObject({
      SpotPrice: "0.05",
      InstanceCount: "1",
      Type: "one-time",
      ClientToken: inst.instance_name,
      "LaunchSpecification.ImageId": "ami-0123456789abcdef0",
      "LaunchSpecification.InstanceType": "m5.large",
      "LaunchSpecification.SecurityGroupId.1": "sg-0a1b2c3d",
      "LaunchSpecification.SecurityGroup.1": "ssh",
      "LaunchSpecification.Placement.AvailabilityZone": "us-east-1b",
      "TagSpecification.1.ResourceType": "spot-instances-request",
      "TagSpecification.1.Tag.1.Value": inst.instance_name
    })
    const validFor = (Date.parse(p.ValidUntil) - t0) / 1000
    expect(validFor).toBeGreaterThan(595)
    expect(validFor).toBeLessThan(610)
    expect(Buffer.from(p["LaunchSpecification.UserData"], "base64").toString()).toContain(inst.instance_name!)

    const r0 = await ok(c.refresh(inst)) // still open when asked
    expect(r0.state).toBe(InstanceState.Pending)
    const r1 = await ok(c.refresh(r0)) // request fulfilled: a pending VM
    expect(r1.state).toBe(InstanceState.Starting)
    expect(r1.uuid).toBe(inst.uuid)
    const vm = fake.live()[0]
    expect(vm.tags.get("Name")).toBe(inst.instance_name)
    const r2 = await ok(c.refresh(r1))
    expect(r2.state).toBe(InstanceState.Active)
    expect(r2.spot_state).toBe("fulfilled")
    const listed = await ok(c.list("aws"))
    expect(listed.map((i) => i.uuid)).toEqual([inst.uuid])

    await ok(c.destroy(r2))
    expect(fake.spot.get(inst.uuid!)!.state).toBe("cancelled")
    expect(fake.vms.get(vm.id)!.state).toBe("shutting-down")
  })

  it("an unfulfilled request stays Pending with its status; destroy cancels it; expiry makes it Inexistent", async () => {
    const c = await cloudOf(spotCfg)
    fake.spotHold = true
    const inst = await ok(c.boot("aws"))
    const r = await ok(c.refresh(inst))
    expect(r.state).toBe(InstanceState.Pending)
    expect((await ok(c.refresh(r))).spot_state).toBe("capacity-not-available")
    expect((await ok(c.list("aws"))).map((i) => [i.uuid, i.state])).toEqual([[inst.uuid, InstanceState.Pending]])
    await ok(c.destroy(r))
    expect(fake.spot.get(inst.uuid!)!.state).toBe("cancelled")
    expect((await ok(c.refresh(r))).state).toBe(InstanceState.Inexistent)
    expect(fake.live().length).toBe(0)

    const e = await ok(c.boot("aws"))
    fake.spot.get(e.uuid!)!.validUntil = new Date(Date.now() - 1000).toISOString()
    fake.spotHold = false
    expect((await ok(c.refresh(e))).state).toBe(InstanceState.Pending)
    const after = await ok(c.refresh(e))
    expect(after.state).toBe(InstanceState.Inexistent)
    expect(after.spot_state).toBe("schedule-expired")
  })

  it("a fulfilled VM whose Name tag was never written is still found (by its request) and tagged", async () => {
    const c = await cloudOf(spotCfg)
    const inst = await ok(c.boot("aws"))
    fake.settle() // fulfilled and running, but nobody tagged the VM
    expect(fake.live()[0].tags.has("Name")).toBe(false)
    const listed = await ok(c.list("aws"))
    expect(listed.map((i) => [i.uuid, i.state, i.instance_name])).toEqual([[inst.uuid, InstanceState.Active, inst.instance_name]])
    expect(fake.live()[0].tags.get("Name")).toBe(inst.instance_name)
  })
})

describe("spot interruptions (issue 20): the status codes EC2 documents", () => {
  const spotCfg = { spot_bid: 0.05, spot_timeout: 600 }

  it("the notice (marked-for-termination, request closed, VM running) shows in refresh and list; then the instance is gone", async () => {
    const c = await cloudOf(spotCfg)
    const inst = await ok(c.boot("aws"))
    fake.settle()
    const running = await ok(c.refresh(inst))
    expect(running.state).toBe(InstanceState.Active)
    expect(spotInterruption(running)).toBeNull()

    fake.interruptSpot(inst.uuid!)
    const noticed = await ok(c.refresh(running))
    expect([noticed.state, noticed.spot_state, noticed.uuid]).toEqual([InstanceState.Active, "marked-for-termination", inst.uuid])
    expect(spotInterruption(noticed)).toBe("marked-for-termination")
    // the request is closed now: the listing still knows the VM as this spot instance, with the notice
    const listed = await ok(c.list("aws"))
    expect(listed.map((i) => [i.uuid, i.state, i.spot_state])).toEqual([[inst.uuid, InstanceState.Active, "marked-for-termination"]])

    fake.reclaimSpot(inst.uuid!, "instance-terminated-no-capacity")
    const ending = await ok(c.refresh(noticed))
    expect([ending.state, ending.spot_state]).toEqual([InstanceState.Deleting, "instance-terminated-no-capacity"])
    const gone = await ok(c.refresh(ending))
    expect([gone.state, spotInterruption(gone)]).toEqual([InstanceState.Inexistent, "instance-terminated-no-capacity"])
    expect(await ok(c.list("aws"))).toEqual([])
    // nothing left to cancel or terminate: destroy is a no-op that succeeds
    await ok(c.destroy(gone))
  })

  it("a spot VM terminated by us is not an interruption (instance-terminated-by-user)", async () => {
    const c = await cloudOf(spotCfg)
    const inst = await ok(c.boot("aws"))
    fake.settle()
    const vm = fake.live()[0]
    await ok(c.destroy(await ok(c.refresh(inst))))
    expect(fake.vms.get(vm.id)!.state).toBe("shutting-down")
    const after = await ok(c.refresh(inst))
    expect(spotInterruption(after)).toBeNull()
  })
})

describe("spot requests that cannot be cancelled or that vanished (issue 20, finding 2)", () => {
  const spotCfg = { spot_bid: 0.05, spot_timeout: 600 }
  const activeSpot = async (c: ResourceCloud) => {
    const inst = await ok(c.boot("aws"))
    fake.settle()
    fake.settle()
    const a = await ok(c.refresh(inst))
    expect(a.state).toBe(InstanceState.Active)
    return { a, vm: fake.live()[0] }
  }

  for (const [code, status] of [
    ["UnauthorizedOperation", 403],
    ["InternalError", 500],
    ["RequestLimitExceeded", 503]
  ] as const) {
    it(`CancelSpotInstanceRequests failing with ${code} still terminates the VM, and the instance ends Inexistent`, async () => {
      const c = await cloudOf(spotCfg)
      const { a, vm } = await activeSpot(c)
      fake.inject({ action: "CancelSpotInstanceRequests", times: 100, fault: { kind: "error", code, status } })
      await ok(c.destroy(a))
      expect(fake.vms.get(vm.id)!.state).toBe("shutting-down")
      fake.settle()
      expect((await ok(c.refresh(a))).state).toBe(InstanceState.Inexistent)
    })
  }

  it("an open request (no VM) whose cancel fails is an error: it could still start a VM", async () => {
    const c = await cloudOf(spotCfg)
    fake.spotHold = true
    const inst = await ok(c.boot("aws"))
    fake.inject({ action: "CancelSpotInstanceRequests", times: 100, fault: { kind: "error", code: "UnauthorizedOperation", status: 403 } })
    expect((await err(c.destroy(inst))).kind).toBe("auth")
  })

  it("a request that vanished (moto deletes cancelled requests): its VM is found by name, and a terminated VM is Inexistent at once", async () => {
    const c = await cloudOf(spotCfg)
    const { a, vm } = await activeSpot(c)
    fake.spot.delete(a.uuid!)
    // still running: Active, not "gone" and not "not visible yet"
    expect((await ok(c.refresh(a))).state).toBe(InstanceState.Active)
    // destroy terminates the VM even without its request
    await ok(c.destroy(a))
    expect(fake.vms.get(vm.id)!.state).toBe("shutting-down")
    fake.settle()
    expect((await ok(c.refresh(a))).state).toBe(InstanceState.Inexistent)
    // and destroying again is no error
    await ok(c.destroy(a))
  })

  it("a request lookup that fails still lets destroy terminate the VM found by name", async () => {
    const c = await cloudOf(spotCfg)
    const { a, vm } = await activeSpot(c)
    fake.inject({ action: "DescribeSpotInstanceRequests", times: 100, fault: { kind: "error", code: "InternalError", status: 500 } })
    fake.inject({ action: "CancelSpotInstanceRequests", times: 100, fault: { kind: "error", code: "InternalError", status: 500 } })
    await ok(c.destroy(a))
    expect(fake.vms.get(vm.id)!.state).toBe("shutting-down")
  })
})

describe("credentials and proxy", () => {
  it("without keys in the configuration, the standard chain (environment) is used", async () => {
    process.env.AWS_ACCESS_KEY_ID = "AKIDFAKE"
    process.env.AWS_SECRET_ACCESS_KEY = "from-env"
    try {
      const c = await cloudOf({ access_key_id: null, secret_access_key: null })
      await ok(c.list("aws"))
      expect(sent("DescribeInstances")[0].accessKey).toBe("AKIDFAKE")
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID
      delete process.env.AWS_SECRET_ACCESS_KEY
    }
    const none = await cloudOf({ access_key_id: null, secret_access_key: null })
    expect((await err(none.list("aws"))).kind).toBe("auth")
  })

  it("proxy/proxy_port: every call goes through the proxy (CONNECT)", async () => {
    const tunnels: Array<string> = []
    const proxy: HttpServer = createHttpServer((_, res) => res.writeHead(405).end())
    proxy.on("connect", (req, client: Socket, head) => {
      tunnels.push(req.url ?? "")
      const [host, port] = (req.url ?? "").split(":")
      if (host !== "127.0.0.1") {
        client.end("HTTP/1.1 403 Forbidden\r\n\r\n")
        return
      }
      const upstream = connect(Number(port), host, () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
        upstream.write(head)
        upstream.pipe(client)
        client.pipe(upstream)
      })
      upstream.on("error", () => client.destroy())
      client.on("error", () => upstream.destroy())
    })
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()))
    try {
      const port = (proxy.address() as { port: number }).port
      const c = await cloudOf({ proxy: "127.0.0.1", proxy_port: port })
      await ok(c.list("aws"))
      expect(tunnels.length).toBeGreaterThan(0)
      expect(tunnels[0]).toBe(new URL(fake.url).host)
      expect(sent("DescribeInstances").length).toBe(1)
    } finally {
      proxy.closeAllConnections?.()
      await new Promise<void>((r) => proxy.close(() => r()))
    }
  })

  it("the probe says what works", async () => {
    const c = await cloudOf()
    expect(await ok(c.probe)).toMatch(/^EC2 in us-east-1 at http:\/\/127\.0\.0\.1:\d+ answers; m5\.large has 2 vCPUs; 0 instance\(s\) named awswn-\*$/)
  })

  it("calls for another resource are refused (the dispatcher routes by resource)", async () => {
    const c = await cloudOf()
    expect(await err(c.list("other"))).toMatchObject({ kind: "notfound" })
  })
})


describe("throttling slows the client down (issue 20)", () => {
  it("after RequestLimitExceeded the calls go at the bucket's rate (2/s), not as fast as they can", async () => {
    const callRate = makeCallRate()
    const r = await Effect.runPromise(Effect.either(awsFactory("aws", rc(base()), { reverseDns: fake.reverseDns, callRate })).pipe(Scope.extend(scope)))
    if (Either.isLeft(r)) throw new Error(r.left.message)
    const c = r.right
    await ok(c.list("aws"))
    expect(callRate.rate()).toBe(Infinity)
    fake.inject({ action: "DescribeInstances", fault: { kind: "error", code: "RequestLimitExceeded", message: "Request limit exceeded." } })
    expect(await err(c.list("aws"))).toMatchObject({ kind: "ratelimit" })
    expect(callRate.rate()).toBe(2)
    const t0 = Date.now()
    for (let i = 0; i < 3; i++) await ok(c.list("aws"))
    // three calls at 2 per second after the throttle: at least 1.5 s (each waits for its token)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400)
  })
})
