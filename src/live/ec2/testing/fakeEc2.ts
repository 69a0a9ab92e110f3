/**
 * An in-process EC2 on 127.0.0.1 for tests: the EC2 Query protocol (POST,
 * form-encoded `Action=...&Version=2016-11-15`, lists as `Name.N`, filters
 * as `Filter.N.Name`/`Filter.N.Value.M`) answered with the XML of the EC2 API
 * reference, with switches for the failures the scaler must survive.
 *
 * Where the shapes come from (Amazon EC2 API Reference):
 * - RunInstances → `RunInstancesResponse` (`reservationId`, `instancesSet/item`
 *   with `instanceId`, `instanceState{code,name}` (0 pending, 16 running,
 *   32 shutting-down, 48 terminated, 64 stopping, 80 stopped),
 *   `privateIpAddress`, `ipAddress`, `privateDnsName`, `dnsName`,
 *   `placement`, `groupSet`, `tagSet`, `launchTime`, `cpuOptions`,
 *   `instanceLifecycle`, `spotInstanceRequestId`); ClientToken makes it
 *   idempotent.
 * - DescribeInstances → `reservationSet/item/instancesSet/item`, `nextToken`
 *   paging with MaxResults; filters `tag:Name` (with `*` wildcards) and
 *   `instance-state-name`; an unknown id is `InvalidInstanceID.NotFound`.
 *   Terminated instances stay visible for a while, as in EC2.
 * - TerminateInstances → `instancesSet/item{instanceId,currentState,previousState}`.
 * - DescribeInstanceTypes → `instanceTypeSet/item{instanceType,vCpuInfo{defaultVCpus}}`.
 * - RequestSpotInstances / DescribeSpotInstanceRequests /
 *   CancelSpotInstanceRequests → `spotInstanceRequestSet/item` with
 *   `spotInstanceRequestId`, `state` (open/active/closed/cancelled/failed),
 *   `status{code,message,updateTime}` (pending-evaluation, fulfilled,
 *   capacity-not-available, schedule-expired, ...), `instanceId`, `validUntil`,
 *   `tagSet`; `InvalidSpotInstanceRequestID.NotFound`.
 * - Spot interruptions as the EC2 User Guide's "State changes for a Spot
 *   request" (Fulfilled-terminal) gives them for a one-time request:
 *   `interruptSpot` is the notice (`marked-for-termination`, request
 *   `closed`, VM still `running`), `reclaimSpot` the end
 *   (`instance-terminated-by-price`, `-no-capacity`,
 *   `-capacity-oversubscribed`, …; request `closed`, VM `shutting-down`
 *   then `terminated`). TerminateInstances of a spot VM closes its active
 *   request with `instance-terminated-by-user`.
 * - CreateTags → `<return>true</return>`; DescribeSecurityGroups → `securityGroupInfo`.
 * - Errors ("Error codes for the Amazon EC2 API", "Example error response"):
 *   `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`,
 *   400 for client errors, 503 for RequestLimitExceeded, 500 for InternalError;
 *   401 AuthFailure for unknown credentials.
 *
 * Addresses are 10.x / 203.0.113.x data only: nothing connects to them.
 */
import { randomUUID } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { loopbackServer, type LoopbackServer } from "../../testing/loopback-server.ts"

const NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
const STATE_CODES: Record<string, number> = { pending: 0, running: 16, "shutting-down": 32, terminated: 48, stopping: 64, stopped: 80 }

export interface FakeVm {
  id: string
  state: "pending" | "running" | "shutting-down" | "terminated" | "stopping" | "stopped"
  type: string
  image: string
  key: string | null
  az: string
  subnet: string | null
  privateIp: string | null
  publicIp: string | null
  groups: Array<{ id: string; name: string }>
  tags: Map<string, string>
  launched: string
  sir: string | null
  userData: string | null
  blockDevices: Array<Record<string, string>>
  publicIpRequested: boolean
}

export interface FakeSpotRequest {
  id: string
  state: "open" | "active" | "closed" | "cancelled" | "failed"
  status: string
  price: string
  instanceId: string | null
  validUntil: string | null
  created: string
  tags: Map<string, string>
  spec: Record<string, string>
}

export type Ec2Fault =
  | { readonly kind: "error"; readonly code: string; readonly message?: string; readonly status?: number }
  | { readonly kind: "drop" }
  | { readonly kind: "delay"; readonly ms: number }

export interface Ec2Injection {
  readonly action?: string
  times: number
  readonly fault: Ec2Fault
}

export interface Ec2Request {
  readonly action: string
  readonly params: Record<string, string>
  readonly accessKey: string | null
}

export interface FakeEc2Options {
  readonly accessKeys?: ReadonlyArray<string>
  readonly instanceTypes?: Record<string, number>
  readonly images?: ReadonlyArray<string>
  readonly securityGroups?: ReadonlyArray<{ id: string; name: string }>
  /** Each describe moves an instance / spot request one step (default true). */
  readonly autoAdvance?: boolean
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
const el = (name: string, inner: string | null | undefined) => (inner === null || inner === undefined ? "" : `<${name}>${inner}</${name}>`)
const txt = (name: string, v: string | number | boolean | null | undefined) => (v === null || v === undefined ? "" : `<${name}>${esc(String(v))}</${name}>`)
const items = <T>(name: string, xs: ReadonlyArray<T>, f: (x: T) => string) => `<${name}>${xs.map((x) => `<item>${f(x)}</item>`).join("")}</${name}>`
const tagSet = (tags: Map<string, string>) => items("tagSet", [...tags], ([k, v]) => txt("key", k) + txt("value", v))

/** `*` and `?` wildcards of EC2 filters. */
const wildcard = (pattern: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`)

export class FakeEc2 {
  url = ""
  readonly requests: Array<Ec2Request> = []
  readonly vms = new Map<string, FakeVm>()
  readonly spot = new Map<string, FakeSpotRequest>()
  readonly injections: Array<Ec2Injection> = []
  readonly clientTokens = new Map<string, string>()
  autoAdvance: boolean
  /** At most this many pending/running instances (InstanceLimitExceeded). */
  instanceLimit = Infinity
  /** The next N RunInstances fail with InsufficientInstanceCapacity. */
  capacityFailures = 0
  /** Spot requests stay open (capacity-not-available) while true. */
  spotHold = false
  private counter = 0
  private readonly server: LoopbackServer
  readonly accessKeys: ReadonlyArray<string>
  readonly instanceTypes: Record<string, number>
  readonly images: ReadonlyArray<string>
  readonly securityGroups: ReadonlyArray<{ id: string; name: string }>

  constructor(options: FakeEc2Options = {}) {
    this.accessKeys = options.accessKeys ?? ["AKIDFAKE"]
    this.instanceTypes = options.instanceTypes ?? { "t3.micro": 2, "m5.large": 2, "c5.4xlarge": 16 }
    this.images = options.images ?? ["ami-0123456789abcdef0"]
    this.securityGroups = options.securityGroups ?? [
      { id: "sg-0a1b2c3d", name: "cluster-wn" },
      { id: "sg-0e0f0a0b", name: "ssh" }
    ]
    this.autoAdvance = options.autoAdvance ?? true
    this.server = loopbackServer(
      (req, res) => this.handle(req, res),
      (res, e) => this.error(res, "InternalError", `fake: ${String(e)}`, 500)
    )
  }

  async start(): Promise<this> {
    this.url = await this.server.start()
    return this
  }

  async stop(): Promise<void> {
    await this.server.stop()
  }

  inject(i: Omit<Ec2Injection, "times"> & { times?: number }): void {
    this.injections.push({ ...i, times: i.times ?? 1 })
  }

  reset(): void {
    this.vms.clear()
    this.spot.clear()
    this.injections.length = 0
    this.requests.length = 0
    this.clientTokens.clear()
    this.instanceLimit = Infinity
    this.capacityFailures = 0
    this.spotHold = false
    this.autoAdvance = true
  }

  /** Reverse DNS for the private addresses handed out. */
  readonly reverseDns = async (ip: string): Promise<ReadonlyArray<string>> => {
    for (const v of this.vms.values()) if (v.privateIp === ip) return [`ip-${ip.replace(/\./g, "-")}.ec2.internal`]
    throw Object.assign(new Error(`ENOTFOUND ${ip}`), { code: "ENOTFOUND" })
  }

  /** Instances that cost money (not terminated). */
  live(): Array<FakeVm> {
    return [...this.vms.values()].filter((v) => v.state !== "terminated")
  }

  advanceVm(v: FakeVm): void {
    if (v.state === "pending") {
      v.state = "running"
      const n = ++this.counter
      v.privateIp = `10.0.${(n >> 8) & 255}.${n & 255}`
      if (v.subnet === null || v.publicIpRequested) v.publicIp = `203.0.113.${n & 255}`
    } else if (v.state === "shutting-down") v.state = "terminated"
  }

  advanceSpot(q: FakeSpotRequest, now = Date.now()): void {
    if (q.state !== "open") return
    if (q.validUntil !== null && Date.parse(q.validUntil) <= now) {
      q.state = "closed"
      q.status = "schedule-expired"
      return
    }
    if (this.spotHold) {
      q.status = "capacity-not-available"
      return
    }
    const vm = this.launch(q.spec, "", null)
    vm.sir = q.id
    q.instanceId = vm.id
    q.state = "active"
    q.status = "fulfilled"
  }

  /** EC2's interruption notice for the spot request `sir`: about two minutes before the end. */
  interruptSpot(sir: string): void {
    const q = this.spot.get(sir)
    if (q === undefined || q.instanceId === null) throw new Error(`fake: no fulfilled spot request ${sir}`)
    q.state = "closed"
    q.status = "marked-for-termination"
  }

  /** EC2 takes the spot instance of `sir` back: terminated, its request closed with `code`. */
  reclaimSpot(sir: string, code = "instance-terminated-by-price"): void {
    const q = this.spot.get(sir)
    if (q === undefined || q.instanceId === null) throw new Error(`fake: no fulfilled spot request ${sir}`)
    q.state = "closed"
    q.status = code
    const v = this.vms.get(q.instanceId)
    if (v !== undefined && v.state !== "terminated") v.state = "shutting-down"
  }

  settle(): void {
    for (let i = 0; i < 2; i++) {
      for (const q of this.spot.values()) this.advanceSpot(q)
      for (const v of this.vms.values()) this.advanceVm(v)
    }
  }

  /** An instance of someone else in the account. */
  addForeign(name: string): FakeVm {
    const v = this.launch({ ImageId: this.images[0], InstanceType: "t3.micro" }, "", null)
    v.tags.set("Name", name)
    this.advanceVm(v)
    return v
  }

  // ------------------------------------------------------------ wire

  private error(res: ServerResponse, code: string, message: string, status = 400) {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`
    res.writeHead(status, { "Content-Type": "text/xml;charset=UTF-8", "Content-Length": String(Buffer.byteLength(body)) })
    res.end(body)
  }

  private ok(res: ServerResponse, action: string, inner: string) {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NS}"><requestId>${randomUUID()}</requestId>${inner}</${action}Response>`
    res.writeHead(200, { "Content-Type": "text/xml;charset=UTF-8", "Content-Length": String(Buffer.byteLength(body)) })
    res.end(body)
  }

  private vmXml(v: FakeVm): string {
    const cpus = this.instanceTypes[v.type] ?? 1
    return (
      txt("instanceId", v.id) +
      txt("imageId", v.image) +
      el("instanceState", txt("code", STATE_CODES[v.state]) + txt("name", v.state)) +
      txt("privateDnsName", v.privateIp !== null ? `ip-${v.privateIp.replace(/\./g, "-")}.ec2.internal` : "") +
      txt("dnsName", v.publicIp !== null ? `ec2-${v.publicIp.replace(/\./g, "-")}.compute-1.amazonaws.com` : "") +
      txt("reason", "") +
      txt("keyName", v.key) +
      txt("amiLaunchIndex", 0) +
      txt("instanceType", v.type) +
      txt("launchTime", v.launched) +
      el("placement", txt("availabilityZone", v.az) + txt("tenancy", "default")) +
      el("monitoring", txt("state", "disabled")) +
      txt("subnetId", v.subnet) +
      txt("vpcId", v.subnet !== null ? "vpc-0123" : null) +
      txt("privateIpAddress", v.privateIp) +
      txt("ipAddress", v.publicIp) +
      items("groupSet", v.groups, (g) => txt("groupId", g.id) + txt("groupName", g.name)) +
      txt("architecture", "x86_64") +
      txt("rootDeviceType", "ebs") +
      (v.tags.size > 0 ? tagSet(v.tags) : "") +
      txt("instanceLifecycle", v.sir !== null ? "spot" : null) +
      txt("spotInstanceRequestId", v.sir) +
      el("cpuOptions", txt("coreCount", Math.max(1, cpus / 2)) + txt("threadsPerCore", cpus >= 2 ? 2 : 1))
    )
  }

  private spotXml(q: FakeSpotRequest): string {
    return (
      txt("spotInstanceRequestId", q.id) +
      txt("spotPrice", q.price) +
      txt("type", "one-time") +
      txt("state", q.state) +
      el("status", txt("code", q.status) + txt("updateTime", new Date().toISOString()) + txt("message", `fake: ${q.status}`)) +
      el("launchSpecification", txt("imageId", q.spec.ImageId) + txt("instanceType", q.spec.InstanceType)) +
      txt("instanceId", q.instanceId) +
      txt("createTime", q.created) +
      txt("validUntil", q.validUntil) +
      txt("productDescription", "Linux/UNIX") +
      (q.tags.size > 0 ? tagSet(q.tags) : "") +
      txt("instanceInterruptionBehavior", "terminate")
    )
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Array<Buffer> = []
    for await (const c of req) chunks.push(c as Buffer)
    const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")))
    const action = params.Action ?? ""
    const auth = req.headers.authorization ?? ""
    const accessKey = /Credential=([^/]+)\//.exec(auth)?.[1] ?? null
    this.requests.push({ action, params, accessKey })

    const inj = this.injections.find((i) => i.times > 0 && (i.action === undefined || i.action === action))
    if (inj !== undefined) {
      inj.times--
      const f = inj.fault
      if (f.kind === "drop") {
        req.socket.destroy()
        return
      }
      if (f.kind === "delay") {
        await new Promise((r) => setTimeout(r, f.ms))
        if (res.destroyed) return
      } else {
        const status = f.status ?? (f.code === "RequestLimitExceeded" ? 503 : f.code === "InternalError" ? 500 : 400)
        return this.error(res, f.code, f.message ?? `fake: ${f.code}`, status)
      }
    }
    if (accessKey === null || !this.accessKeys.includes(accessKey)) {
      return this.error(res, "AuthFailure", "AWS was not able to validate the provided access credentials", 401)
    }
    switch (action) {
      case "RunInstances":
        return this.runInstances(params, res)
      case "DescribeInstances":
        return this.describeInstances(params, res)
      case "TerminateInstances":
        return this.terminate(params, res)
      case "DescribeInstanceTypes": {
        const wanted = this.list(params, "InstanceType")
        const unknown = wanted.filter((t) => this.instanceTypes[t] === undefined)
        if (unknown.length > 0) return this.error(res, "InvalidInstanceType", `The following supplied instance types do not exist: [${unknown.join(", ")}]`)
        return this.ok(
          res,
          action,
          items("instanceTypeSet", wanted, (t) =>
            txt("instanceType", t) + el("vCpuInfo", txt("defaultVCpus", this.instanceTypes[t]) + txt("defaultCores", Math.max(1, this.instanceTypes[t] / 2)) + txt("defaultThreadsPerCore", 2))
          )
        )
      }
      case "RequestSpotInstances":
        return this.requestSpot(params, res)
      case "DescribeSpotInstanceRequests":
        return this.describeSpot(params, res)
      case "CancelSpotInstanceRequests": {
        const ids = this.list(params, "SpotInstanceRequestId")
        const missing = ids.filter((id) => !this.spot.has(id))
        if (missing.length > 0) return this.error(res, "InvalidSpotInstanceRequestID.NotFound", `The spot instance request ID '${missing[0]}' does not exist`)
        for (const id of ids) {
          const q = this.spot.get(id)!
          q.state = "cancelled"
          q.status = q.instanceId !== null ? "request-canceled-and-instance-running" : "canceled-before-fulfillment"
        }
        return this.ok(res, action, items("spotInstanceRequestSet", ids, (id) => txt("spotInstanceRequestId", id) + txt("state", "cancelled")))
      }
      case "CreateTags": {
        const ids = this.list(params, "ResourceId")
        for (const id of ids) {
          const target = this.vms.get(id)?.tags ?? this.spot.get(id)?.tags
          if (target === undefined) return this.error(res, "InvalidID", `The ID '${id}' is not valid`)
          for (let i = 1; params[`Tag.${i}.Key`] !== undefined; i++) target.set(params[`Tag.${i}.Key`], params[`Tag.${i}.Value`] ?? "")
        }
        return this.ok(res, action, txt("return", true))
      }
      case "DescribeSecurityGroups": {
        const f = this.filters(params)
        const names = f.get("group-name")
        const sgs = this.securityGroups.filter((g) => names === undefined || names.some((n) => wildcard(n).test(g.name)))
        return this.ok(res, action, items("securityGroupInfo", sgs, (g) => txt("ownerId", "123456789012") + txt("groupId", g.id) + txt("groupName", g.name) + txt("groupDescription", g.name) + txt("vpcId", "vpc-0123")))
      }
      default:
        return this.error(res, "InvalidAction", `The action ${action} is not valid for this web service.`)
    }
  }

  /** `Prefix.1`, `Prefix.2`, ... */
  private list(params: Record<string, string>, prefix: string): Array<string> {
    const out: Array<string> = []
    for (let i = 1; params[`${prefix}.${i}`] !== undefined; i++) out.push(params[`${prefix}.${i}`])
    return out
  }

  private filters(params: Record<string, string>): Map<string, Array<string>> {
    const out = new Map<string, Array<string>>()
    for (let i = 1; params[`Filter.${i}.Name`] !== undefined; i++) out.set(params[`Filter.${i}.Name`], this.list(params, `Filter.${i}.Value`))
    return out
  }

  private tagsFor(params: Record<string, string>, resourceType: string): Map<string, string> {
    const tags = new Map<string, string>()
    for (let i = 1; params[`TagSpecification.${i}.ResourceType`] !== undefined; i++) {
      if (params[`TagSpecification.${i}.ResourceType`] !== resourceType) continue
      for (let j = 1; params[`TagSpecification.${i}.Tag.${j}.Key`] !== undefined; j++) {
        tags.set(params[`TagSpecification.${i}.Tag.${j}.Key`], params[`TagSpecification.${i}.Tag.${j}.Value`] ?? "")
      }
    }
    return tags
  }

  /** Checks a launch specification; returns an error [code, message] or null. */
  private checkSpec(p: Record<string, string>, pre: string): [string, string] | null {
    if (!this.images.includes(p[`${pre}ImageId`])) return ["InvalidAMIID.NotFound", `The image id '[${p[`${pre}ImageId`]}]' does not exist`]
    if (this.instanceTypes[p[`${pre}InstanceType`]] === undefined) return ["InvalidParameterValue", `Invalid value '${p[`${pre}InstanceType`]}' for InstanceType.`]
    for (const g of [...this.list(p, `${pre}SecurityGroupId`), ...this.list(p, `${pre}NetworkInterface.1.SecurityGroupId`)]) {
      if (!this.securityGroups.some((s) => s.id === g)) return ["InvalidGroup.NotFound", `The security group '${g}' does not exist`]
    }
    for (const g of this.list(p, `${pre}SecurityGroup`)) {
      if (!this.securityGroups.some((s) => s.name === g)) return ["InvalidGroup.NotFound", `The security group '${g}' does not exist in default VPC`]
    }
    return null
  }

  private launch(p: Record<string, string>, pre: string, name: string | null): FakeVm {
    const id = `i-${randomUUID().replace(/-/g, "").slice(0, 17)}`
    const sgIds = [...this.list(p, `${pre}SecurityGroupId`), ...this.list(p, `${pre}NetworkInterface.1.SecurityGroupId`)]
    const sgNames = this.list(p, `${pre}SecurityGroup`)
    const groups = [
      ...this.securityGroups.filter((s) => sgIds.includes(s.id) || sgNames.includes(s.name))
    ]
    const bd: Array<Record<string, string>> = []
    for (let i = 1; p[`${pre}BlockDeviceMapping.${i}.DeviceName`] !== undefined; i++) {
      const m: Record<string, string> = {}
      for (const [k, v] of Object.entries(p)) if (k.startsWith(`${pre}BlockDeviceMapping.${i}.`)) m[k.slice(`${pre}BlockDeviceMapping.${i}.`.length)] = v
      bd.push(m)
    }
    const vm: FakeVm = {
      id,
      state: "pending",
      type: p[`${pre}InstanceType`],
      image: p[`${pre}ImageId`],
      key: p[`${pre}KeyName`] ?? null,
      az: p[`${pre}Placement.AvailabilityZone`] ?? "us-east-1a",
      subnet: p[`${pre}SubnetId`] ?? p[`${pre}NetworkInterface.1.SubnetId`] ?? null,
      privateIp: null,
      publicIp: null,
      groups: groups.length > 0 ? groups : [{ id: "sg-default", name: "default" }],
      tags: new Map(name !== null ? [["Name", name]] : []),
      launched: new Date().toISOString().replace(/\.\d+Z$/, ".000Z"),
      sir: null,
      userData: p[`${pre}UserData`] !== undefined ? Buffer.from(p[`${pre}UserData`], "base64").toString("utf8") : null,
      blockDevices: bd,
      publicIpRequested: p[`${pre}NetworkInterface.1.AssociatePublicIpAddress`] === "true"
    }
    this.vms.set(id, vm)
    return vm
  }

  private runInstances(p: Record<string, string>, res: ServerResponse) {
    const token = p.ClientToken
    if (token !== undefined && this.clientTokens.has(token)) {
      const vm = this.vms.get(this.clientTokens.get(token)!)!
      return this.ok(res, "RunInstances", txt("reservationId", "r-0fake") + txt("ownerId", "123456789012") + items("instancesSet", [vm], (v) => this.vmXml(v)))
    }
    const bad = this.checkSpec(p, "")
    if (bad !== null) return this.error(res, bad[0], bad[1])
    if (this.capacityFailures > 0) {
      this.capacityFailures--
      return this.error(res, "InsufficientInstanceCapacity", `We currently do not have sufficient ${p.InstanceType} capacity in the Availability Zone you requested. Our system will be working on provisioning additional capacity.`)
    }
    const running = this.live().filter((v) => v.state === "pending" || v.state === "running").length
    if (running + 1 > this.instanceLimit) {
      return this.error(res, "InstanceLimitExceeded", `You have requested more instances (${running + 1}) than your current instance limit of ${this.instanceLimit} allows for the specified instance type.`)
    }
    const name = this.tagsFor(p, "instance").get("Name") ?? null
    const vm = this.launch(p, "", name)
    for (const [k, v] of this.tagsFor(p, "instance")) vm.tags.set(k, v)
    if (token !== undefined) this.clientTokens.set(token, vm.id)
    this.ok(res, "RunInstances", txt("reservationId", "r-0fake") + txt("ownerId", "123456789012") + items("instancesSet", [vm], (v) => this.vmXml(v)))
  }

  private describeInstances(p: Record<string, string>, res: ServerResponse) {
    const ids = this.list(p, "InstanceId")
    for (const id of ids) if (!this.vms.has(id)) return this.error(res, "InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`)
    const f = this.filters(p)
    let vms = ids.length > 0 ? ids.map((id) => this.vms.get(id)!) : [...this.vms.values()]
    const names = f.get("tag:Name")
    if (names !== undefined) vms = vms.filter((v) => v.tags.has("Name") && names.some((n) => wildcard(n).test(v.tags.get("Name")!)))
    const states = f.get("instance-state-name")
    if (states !== undefined) vms = vms.filter((v) => states.includes(v.state))
    const max = p.MaxResults !== undefined ? Number(p.MaxResults) : 1000
    const start = p.NextToken !== undefined ? Number(p.NextToken) : 0
    const page = vms.slice(start, start + max)
    const next = start + max < vms.length ? String(start + max) : null
    const xml = items("reservationSet", page, (v) => txt("reservationId", `r-${v.id.slice(2)}`) + txt("ownerId", "123456789012") + items("groupSet", [], () => "") + items("instancesSet", [v], (x) => this.vmXml(x)))
    this.ok(res, "DescribeInstances", xml + txt("nextToken", next))
    if (this.autoAdvance) for (const v of page) this.advanceVm(v)
  }

  private terminate(p: Record<string, string>, res: ServerResponse) {
    const ids = this.list(p, "InstanceId")
    for (const id of ids) if (!this.vms.has(id)) return this.error(res, "InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`)
    const out = ids.map((id) => {
      const v = this.vms.get(id)!
      const prev = v.state
      if (v.state !== "terminated") v.state = "shutting-down"
      const q = v.sir !== null ? this.spot.get(v.sir) : undefined
      if (q !== undefined && q.state === "active") {
        q.state = "closed"
        q.status = "instance-terminated-by-user"
      }
      return { id, prev, cur: v.state }
    })
    this.ok(
      res,
      "TerminateInstances",
      items("instancesSet", out, (o) => txt("instanceId", o.id) + el("currentState", txt("code", STATE_CODES[o.cur]) + txt("name", o.cur)) + el("previousState", txt("code", STATE_CODES[o.prev]) + txt("name", o.prev)))
    )
  }

  private requestSpot(p: Record<string, string>, res: ServerResponse) {
    const bad = this.checkSpec(p, "LaunchSpecification.")
    if (bad !== null) return this.error(res, bad[0], bad[1])
    if (p.SpotPrice === undefined || !(Number(p.SpotPrice) > 0)) return this.error(res, "InvalidParameterValue", "Invalid spot price")
    const openRequests = [...this.spot.values()].filter((q) => q.state === "open" || q.state === "active").length
    if (openRequests + 1 > this.instanceLimit) {
      return this.error(res, "MaxSpotInstanceCountExceeded", `Max spot instance count exceeded: ${this.instanceLimit}`)
    }
    const token = p.ClientToken
    if (token !== undefined && this.clientTokens.has(token)) {
      const q = this.spot.get(this.clientTokens.get(token)!)!
      return this.ok(res, "RequestSpotInstances", items("spotInstanceRequestSet", [q], (x) => this.spotXml(x)))
    }
    const spec: Record<string, string> = {}
    for (const [k, v] of Object.entries(p)) if (k.startsWith("LaunchSpecification.")) spec[k.slice("LaunchSpecification.".length)] = v
    const q: FakeSpotRequest = {
      id: `sir-${randomUUID().replace(/-/g, "").slice(0, 8)}`,
      state: "open",
      status: "pending-evaluation",
      price: p.SpotPrice,
      instanceId: null,
      validUntil: p.ValidUntil ?? null,
      created: new Date().toISOString(),
      tags: this.tagsFor(p, "spot-instances-request"),
      spec
    }
    this.spot.set(q.id, q)
    if (token !== undefined) this.clientTokens.set(token, q.id)
    this.ok(res, "RequestSpotInstances", items("spotInstanceRequestSet", [q], (x) => this.spotXml(x)))
  }

  private describeSpot(p: Record<string, string>, res: ServerResponse) {
    const ids = this.list(p, "SpotInstanceRequestId")
    for (const id of ids) if (!this.spot.has(id)) return this.error(res, "InvalidSpotInstanceRequestID.NotFound", `The spot instance request ID '${id}' does not exist`)
    const f = this.filters(p)
    let qs = ids.length > 0 ? ids.map((id) => this.spot.get(id)!) : [...this.spot.values()]
    const names = f.get("tag:Name")
    if (names !== undefined) qs = qs.filter((q) => q.tags.has("Name") && names.some((n) => wildcard(n).test(q.tags.get("Name")!)))
    const states = f.get("state")
    if (states !== undefined) qs = qs.filter((q) => states.includes(q.state))
    this.ok(res, "DescribeSpotInstanceRequests", items("spotInstanceRequestSet", qs, (q) => this.spotXml(q)))
    if (this.autoAdvance) for (const q of qs) this.advanceSpot(q)
  }
}
