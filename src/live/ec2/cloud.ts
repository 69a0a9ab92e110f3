/**
 * The Cloud service of one AWS EC2 resource, over @aws-sdk/client-ec2 v3.
 *
 * On-demand instances: RunInstances with a Name tag (and the name as the
 * idempotency ClientToken, so the SDK's retries never start a second VM);
 * DescribeInstances by id, or by `tag:Name` = `<prefix>-*` with paging;
 * TerminateInstances. Spot instances (`spot_bid`): RequestSpotInstances
 * (one-time, valid until `spot_timeout`) tagged with the name; the request
 * id is the instance's identity until and after it has a VM (the VM gets the
 * Name tag when it appears); destroy cancels the request and terminates its
 * VM.
 *
 * States (SPEC §1): spot request open → Pending; pending → Starting;
 * running with the address we use → Active (without: Starting);
 * shutting-down → Deleting; terminated → Inexistent; stopping/stopped →
 * Error; spot request failed → Error, closed/cancelled without a VM →
 * Inexistent. EC2 is eventually consistent: an instance we just created may
 * be "not found" for a while, which is not taken for gone.
 */
import {
  CancelSpotInstanceRequestsCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSpotInstanceRequestsCommand,
  EC2Client,
  RequestSpotInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type BlockDeviceMapping,
  type Filter
} from "@aws-sdk/client-ec2"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Clock, Duration, Effect, Either, type Layer, Ref, Schema } from "effect"
import { HttpsProxyAgent } from "https-proxy-agent"
import { CloudError, type BootOptions, type Cloud, type CloudErrorKind } from "../../engine/services.ts"
import type { ResourceConfig } from "../../model/config.ts"
import { emptyInstance, InstanceState, type Instance } from "../../model/types.ts"
import {
  CloudSetupError,
  decodeCloudConfig,
  describeDecodeError,
  hostnameOf,
  layerResourceCloud,
  newInstanceName,
  systemReverseDns,
  type CloudFactory,
  type CloudLayerSetup,
  type LiveCloudOptions,
  type ResourceCloud
} from "../cloud-setup.ts"
import { base64, makeUserData } from "../userdata.ts"
import { makeCallRate } from "../call-rate.ts"
import { Ec2Config } from "./config.ts"

// ---------------------------------------------------------------- what we read of SDK answers

const optS = Schema.optional(Schema.String)
export const Ec2Instance = Schema.Struct({
  InstanceId: Schema.String,
  State: Schema.Struct({ Name: Schema.String }),
  InstanceType: optS,
  ImageId: optS,
  KeyName: optS,
  PrivateIpAddress: optS,
  PublicIpAddress: optS,
  PrivateDnsName: optS,
  PublicDnsName: optS,
  LaunchTime: Schema.optional(Schema.DateFromSelf),
  Placement: Schema.optional(Schema.Struct({ AvailabilityZone: optS })),
  SubnetId: optS,
  SecurityGroups: Schema.optional(Schema.Array(Schema.Struct({ GroupName: optS, GroupId: optS }))),
  Tags: Schema.optional(Schema.Array(Schema.Struct({ Key: optS, Value: optS }))),
  InstanceLifecycle: optS,
  SpotInstanceRequestId: optS,
  CpuOptions: Schema.optional(Schema.Struct({ CoreCount: Schema.optional(Schema.Number), ThreadsPerCore: Schema.optional(Schema.Number) }))
})
export type Ec2Instance = typeof Ec2Instance.Type

const Reservations = Schema.Struct({
  Reservations: Schema.optionalWith(Schema.Array(Schema.Struct({ Instances: Schema.optionalWith(Schema.Array(Ec2Instance), { default: () => [] }) })), {
    default: () => []
  }),
  NextToken: optS
})

export const SpotRequest = Schema.Struct({
  SpotInstanceRequestId: Schema.String,
  State: optS,
  Status: Schema.optional(Schema.Struct({ Code: optS, Message: optS })),
  InstanceId: optS,
  SpotPrice: optS,
  CreateTime: Schema.optional(Schema.DateFromSelf),
  Tags: Schema.optional(Schema.Array(Schema.Struct({ Key: optS, Value: optS })))
})
export type SpotRequest = typeof SpotRequest.Type
const SpotRequests = Schema.Struct({ SpotInstanceRequests: Schema.optionalWith(Schema.Array(SpotRequest), { default: () => [] }), NextToken: optS })

const InstanceTypes = Schema.Struct({
  InstanceTypes: Schema.optionalWith(
    Schema.Array(Schema.Struct({ InstanceType: optS, VCpuInfo: Schema.optional(Schema.Struct({ DefaultVCpus: Schema.optional(Schema.Number) })) })),
    { default: () => [] }
  )
})

const RunResult = Schema.Struct({ Instances: Schema.Array(Ec2Instance).pipe(Schema.minItems(1)) })

// ---------------------------------------------------------------- errors

/** EC2 error codes → what the engine does about them. */
export const classifyEc2 = (code: string, status: number | undefined): CloudErrorKind => {
  if (/^Insufficient.*Capacity$/.test(code) || code === "SpotMaxPriceTooLow" || code === "InsufficientFreeAddressesInSubnet") return "capacity"
  if ((/LimitExceeded$/.test(code) && code !== "RequestLimitExceeded") || code === "MaxSpotInstanceCountExceeded") return "quota"
  if (code === "RequestLimitExceeded" || /^Throttl/.test(code) || code === "RequestThrottled" || code === "SlowDown") return "ratelimit"
  if (
    [
      "UnauthorizedOperation",
      "AuthFailure",
      "InvalidClientTokenId",
      "SignatureDoesNotMatch",
      "OptInRequired",
      "Blocked",
      "PendingVerification",
      "ExpiredToken",
      "RequestExpired",
      "CredentialsProviderError",
      "AccessDenied",
      "AccessDeniedException"
    ].includes(code)
  )
    return "auth"
  if (/\.NotFound$/.test(code) || code === "NotFound") return "notfound"
  if (code === "IncorrectState" || code === "IncorrectInstanceState" || code === "IdempotentParameterMismatch") return "conflict"
  if (code === "TimeoutError" || code === "RequestTimeout" || code === "RequestTimeoutException") return "timeout"
  if (/^Invalid/.test(code) || code === "MissingParameter" || code === "UnknownParameter" || code === "Unsupported" || code === "ValidationError")
    return "invalid"
  if (status === 429) return "ratelimit"
  if (status !== undefined && status >= 500) return "api"
  if (status !== undefined && status >= 400 && status < 500) return "invalid"
  return "api"
}

const codeOf = (e: unknown): { code: string; status: number | undefined; message: string } => {
  const o = e as { name?: string; Code?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } }
  const sysCode = typeof o?.code === "string" ? o.code : undefined
  let code = o?.Code ?? o?.name ?? "Error"
  if (sysCode === "ECONNREFUSED" || sysCode === "ECONNRESET" || sysCode === "EPIPE" || sysCode === "ENOTFOUND") code = sysCode
  const message = (o?.message ?? String(e)).replace(/\s+/g, " ").slice(0, 300)
  return { code, status: o?.$metadata?.httpStatusCode, message }
}

// ---------------------------------------------------------------- the service

/** Seconds after its creation during which "not found" means "not visible yet". */
const CONSISTENCY_WINDOW = 180

export interface Ec2Options extends LiveCloudOptions {
  /** A ready client (tests); default: one built from the configuration and destroyed with the scope. */
  readonly client?: EC2Client
}

export const makeEc2Client = (c: Ec2Config): EC2Client => {
  const agent = c.proxy !== null ? new HttpsProxyAgent(`http://${c.proxy}:${c.proxy_port}`) : undefined
  const ms = Math.round(c.api_timeout * 1000)
  return new EC2Client({
    region: c.region_name,
    ...(c.endpoint_url !== null ? { endpoint: c.endpoint_url } : {}),
    ...(c.access_key_id !== null && c.secret_access_key !== null
      ? { credentials: { accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key, ...(c.session_token !== null ? { sessionToken: c.session_token } : {}) } }
      : {}),
    maxAttempts: c.max_attempts,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: ms,
      requestTimeout: ms,
      ...(agent !== undefined ? { httpAgent: agent, httpsAgent: agent } : {})
    })
  })
}

export const makeEc2Cloud = (resource: string, rc: ResourceConfig, options: Ec2Options = {}): Effect.Effect<ResourceCloud, CloudSetupError, import("effect").Scope.Scope> =>
  Effect.gen(function* () {
    const decoded = yield* decodeCloudConfig(Ec2Config, resource, rc.config)
    const config = decoded.config
    const ud = yield* Effect.mapError(
      makeUserData(config.userdata_file),
      (e) => new CloudSetupError({ resource, problems: [`cloud.${resource}.config.userdata_file: ${e.message}`] })
    )
    const client = options.client ?? makeEc2Client(config)
    if (options.client === undefined) yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
    const reverse = options.reverseDns ?? systemReverseDns
    const prefix = config.instance_name_prefix
    const spot = config.spot_bid !== null
    const vcpuCache = new Map<string, number>()
    const groupIds = yield* Ref.make<ReadonlyArray<string> | null>(null)
    const callTimeout = Duration.seconds(config.api_timeout * config.max_attempts + 1)

    const err = (op: string, kind: CloudErrorKind, message: string) => new CloudError({ resource, op, kind, message })
    // slows the calls down once EC2 throttles them (RequestLimitExceeded)
    const callRate = options.callRate ?? makeCallRate()

    /** One SDK call: its failure mapped to a CloudError, its answer checked against what we read. */
    const send = <A, I>(op: string, command: any, schema: Schema.Schema<A, I>): Effect.Effect<A, CloudError> =>
      callRate.around(sendOnce(op, command, schema))
    const sendOnce = <A, I>(op: string, command: any, schema: Schema.Schema<A, I>): Effect.Effect<A, CloudError> =>
      Effect.tryPromise({
        try: (signal) => client.send(command, { abortSignal: signal }) as Promise<unknown>,
        catch: (e) => {
          const { code, status, message } = codeOf(e)
          const kind = code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE" || code === "ENOTFOUND" ? "api" : classifyEc2(code, status)
          return err(op, kind, `${code}: ${message}`)
        }
      }).pipe(
        Effect.timeoutFail({ duration: callTimeout, onTimeout: () => err(op, "timeout", `no answer from EC2 within ${Duration.format(callTimeout)}`) }),
        Effect.flatMap((out) =>
          Either.match(Schema.decodeUnknownEither(schema)(out), {
            onLeft: (e) => Effect.fail(err(op, "api", `unexpected answer to ${op}: ${describeDecodeError(e)}`)),
            onRight: Effect.succeed
          })
        )
      )
    const none = Schema.Unknown

    const mine = (r: string, op: string) => (r === resource ? Effect.void : Effect.fail(err(op, "notfound", `the EC2 layer of ${resource} was asked about resource ${r}`)))

    const vcpusOf = (type: string) =>
      Effect.gen(function* () {
        const c = vcpuCache.get(type)
        if (c !== undefined) return c
        const out = yield* send("instance type", new DescribeInstanceTypesCommand({ InstanceTypes: [type as any] }), InstanceTypes)
        const n = out.InstanceTypes.find((t) => t.InstanceType === type)?.VCpuInfo?.DefaultVCpus
        if (n === undefined || n <= 0) return yield* Effect.fail(err("instance type", "invalid", `instance type ${type} is not offered (DescribeInstanceTypes gave no vCPU count)`))
        vcpuCache.set(type, n)
        return n
      })

    /** Security groups as RunInstances wants them: ids in a VPC subnet, names or ids otherwise. */
    const groups = Effect.gen(function* () {
      const all = config.security_groups ?? []
      const ids = all.filter((g) => /^sg-[0-9a-f]+$/.test(g))
      const names = all.filter((g) => !/^sg-[0-9a-f]+$/.test(g))
      if (config.subnet_id === null) return { ids, names }
      if (names.length === 0) return { ids, names: [] as Array<string> }
      const cached = yield* Ref.get(groupIds)
      if (cached !== null) return { ids: [...cached], names: [] as Array<string> }
      const out = yield* send(
        "security groups",
        new DescribeSecurityGroupsCommand({ Filters: [{ Name: "group-name", Values: names }] }),
        Schema.Struct({ SecurityGroups: Schema.optionalWith(Schema.Array(Schema.Struct({ GroupId: Schema.String, GroupName: optS })), { default: () => [] }) })
      )
      const missing = names.filter((n) => !out.SecurityGroups.some((g) => g.GroupName === n))
      if (missing.length > 0) return yield* Effect.fail(err("security groups", "invalid", `security group(s) not found: ${missing.join(", ")}`))
      const resolved = [...ids, ...out.SecurityGroups.map((g) => g.GroupId)]
      yield* Ref.set(groupIds, resolved)
      return { ids: resolved, names: [] as Array<string> }
    })

    const blockDevices = (): Array<BlockDeviceMapping> | undefined => {
      if (config.disk_map === null) return undefined
      return Object.entries(config.disk_map).map(([name, d]) =>
        d.size != null
          ? {
              DeviceName: d.device,
              Ebs: { VolumeSize: d.size, DeleteOnTermination: d.delete_on_termination, ...(d.volume_type != null ? { VolumeType: d.volume_type as any } : {}) }
            }
          : { DeviceName: d.device, VirtualName: name }
      )
    }

    const nameTag = (tags: ReadonlyArray<{ Key?: string | undefined; Value?: string | undefined }> | undefined) => tags?.find((t) => t.Key === "Name")?.Value ?? null

    const toInstance = (i: Ec2Instance, now: number, spotReq: SpotRequest | null) =>
      Effect.gen(function* () {
        const name = nameTag(i.Tags) ?? nameTag(spotReq?.Tags) ?? i.InstanceId
        const ip = (config.use_public_ip_address ? i.PublicIpAddress : i.PrivateIpAddress) || null
        const s = i.State.Name
        const state =
          s === "pending"
            ? InstanceState.Starting
            : s === "running"
              ? ip !== null
                ? InstanceState.Active
                : InstanceState.Starting
              : s === "shutting-down"
                ? InstanceState.Deleting
                : s === "terminated"
                  ? InstanceState.Inexistent
                  : s === "stopping" || s === "stopped"
                    ? InstanceState.Error
                    : InstanceState.Unknown
        let dns: string | null = null
        if (state === InstanceState.Active && ip !== null && !config.reverse_dns) {
          dns = name
        } else if (state === InstanceState.Active && ip !== null) {
          const given = (config.use_public_ip_address ? i.PublicDnsName : i.PrivateDnsName) || null
          dns = config.use_public_ip_address && given !== null ? given : yield* hostnameOf(ip, given ?? name, reverse, config.dns_timeout)
        }
        const cpu = i.CpuOptions?.CoreCount !== undefined ? i.CpuOptions.CoreCount * (i.CpuOptions.ThreadsPerCore ?? 1) : 0
        const vcpus = cpu > 0 ? cpu : yield* Effect.orElseSucceed(vcpusOf(i.InstanceType ?? config.instance_type), () => 0)
        const sir = spotReq?.SpotInstanceRequestId ?? i.SpotInstanceRequestId ?? null
        const inst: Instance = {
          uuid: sir ?? i.InstanceId,
          instance_name: name,
          cloud_resource: resource,
          state,
          dns_name: dns,
          ip: state === InstanceState.Active ? ip : null,
          vcpu_number: vcpus,
          creation_time: i.LaunchTime !== undefined ? i.LaunchTime.getTime() / 1000 : now,
          last_update_time: now,
          last_task_result: 0,
          tasked: false,
          availability_zone: i.Placement?.AvailabilityZone ?? config.availability_zone,
          subnet_id: i.SubnetId ?? config.subnet_id,
          security_groups: i.SecurityGroups ? i.SecurityGroups.map((g) => g.GroupName ?? g.GroupId ?? "") : config.security_groups ? [...config.security_groups] : null,
          image_uuid: i.ImageId ?? config.image_id,
          flavor: i.InstanceType ?? config.instance_type,
          key_name: i.KeyName ?? config.key_name,
          spot_id: sir,
          spot_state: spotReq !== null ? (spotReq.Status?.Code ?? spotReq.State ?? null) : sir !== null ? "fulfilled" : null,
          spot_price: spotReq?.SpotPrice !== undefined ? Number(spotReq.SpotPrice) : sir !== null && config.spot_bid !== null ? Number(config.spot_bid) : 0
        }
        return inst
      })

    /** A spot request without a VM (yet, or any more). */
    const requestOnly = (r: SpotRequest, now: number, prev: Instance | null): Instance => {
      const state = r.State === "open" ? InstanceState.Pending : r.State === "failed" ? InstanceState.Error : InstanceState.Inexistent
      return {
        ...(prev ?? blank(now)),
        uuid: r.SpotInstanceRequestId,
        instance_name: nameTag(r.Tags) ?? prev?.instance_name ?? r.SpotInstanceRequestId,
        state,
        creation_time: prev?.creation_time ?? (r.CreateTime !== undefined ? r.CreateTime.getTime() / 1000 : now),
        last_update_time: now,
        spot_id: r.SpotInstanceRequestId,
        spot_state: r.Status?.Code ?? r.State ?? null,
        spot_price: r.SpotPrice !== undefined ? Number(r.SpotPrice) : Number(config.spot_bid ?? 0)
      }
    }

    const blank = (now: number): Instance => ({
      ...emptyInstance(resource, now),
      vcpu_number: vcpuCache.get(config.instance_type) ?? 0,
      last_task_result: 0,
      availability_zone: config.availability_zone,
      subnet_id: config.subnet_id,
      security_groups: config.security_groups ? [...config.security_groups] : null,
      image_uuid: config.image_id,
      flavor: config.instance_type,
      key_name: config.key_name
    })

    const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => ms / 1000)

    const describeInstances = (op: string, input: { InstanceIds?: Array<string>; Filters?: Array<Filter> }) =>
      Effect.gen(function* () {
        const out: Array<Ec2Instance> = []
        let token: string | undefined
        for (let page = 0; page < 1000; page++) {
          const r = yield* send(
            op,
            new DescribeInstancesCommand({ ...input, ...(input.InstanceIds === undefined ? { MaxResults: 100 } : {}), ...(token !== undefined ? { NextToken: token } : {}) }),
            Reservations
          )
          for (const res of r.Reservations) out.push(...res.Instances)
          if (r.NextToken === undefined || r.NextToken === "" || r.NextToken === token) break
          token = r.NextToken
        }
        return out
      })

    const describeSpot = (op: string, input: { SpotInstanceRequestIds?: Array<string>; Filters?: Array<Filter> }) =>
      Effect.gen(function* () {
        const out: Array<SpotRequest> = []
        let token: string | undefined
        for (let page = 0; page < 1000; page++) {
          const r = yield* send(
            op,
            new DescribeSpotInstanceRequestsCommand({
              ...input,
              ...(input.SpotInstanceRequestIds === undefined ? { MaxResults: 100 } : {}),
              ...(token !== undefined ? { NextToken: token } : {})
            }),
            SpotRequests
          )
          out.push(...r.SpotInstanceRequests)
          if (r.NextToken === undefined || r.NextToken === "" || r.NextToken === token) break
          token = r.NextToken
        }
        return out
      })

    /** Spot VMs get the request's Name tag when they appear (RequestSpotInstances cannot tag the VM itself). */
    const ensureNameTag = (i: Ec2Instance, name: string | null) =>
      name === null || nameTag(i.Tags) !== null
        ? Effect.void
        : Effect.ignore(send("tag", new CreateTagsCommand({ Resources: [i.InstanceId], Tags: [{ Key: "Name", Value: name }] }), none))

    const prefixFilter: Filter = { Name: "tag:Name", Values: [`${prefix}-*`] }

    const list = (r: string) =>
      Effect.gen(function* () {
        yield* mine(r, "list")
        const now = yield* nowSeconds
        const found = (yield* describeInstances("list", {
          Filters: [prefixFilter, { Name: "instance-state-name", Values: ["pending", "running", "shutting-down", "stopping", "stopped"] }]
        })).filter((i) => (nameTag(i.Tags) ?? "").startsWith(`${prefix}-`))
        const out = new Map<string, Instance>()
        const byId = new Map(found.map((i) => [i.InstanceId, i]))
        if (spot) {
          const reqs = (yield* describeSpot("list", { Filters: [prefixFilter, { Name: "state", Values: ["open", "active"] }] })).filter((q) =>
            (nameTag(q.Tags) ?? "").startsWith(`${prefix}-`)
          )
          for (const q of reqs) {
            if (q.InstanceId === undefined) {
              out.set(q.SpotInstanceRequestId, requestOnly(q, now, null))
              continue
            }
            let vm = byId.get(q.InstanceId)
            if (vm === undefined) {
              // fulfilled but not tagged yet (we stopped before we could tag it)
              const more = yield* describeInstances("list", { InstanceIds: [q.InstanceId] }).pipe(Effect.orElseSucceed(() => [] as Array<Ec2Instance>))
              vm = more[0]
              if (vm !== undefined) yield* ensureNameTag(vm, nameTag(q.Tags))
            }
            byId.delete(q.InstanceId)
            if (vm === undefined) out.set(q.SpotInstanceRequestId, requestOnly(q, now, null))
            else {
              const inst = yield* toInstance(vm, now, q)
              if (inst.state !== InstanceState.Inexistent) out.set(q.SpotInstanceRequestId, inst)
            }
          }
        }
        // Spot VMs whose request is no longer open or active: closed with the
        // interruption notice (marked-for-termination: the VM runs on for two
        // minutes) or after it. Their requests, read by id, carry the status code.
        const closed = new Map<string, SpotRequest>()
        const sirs = spot ? [...byId.values()].flatMap((vm) => (vm.SpotInstanceRequestId !== undefined ? [vm.SpotInstanceRequestId] : [])) : []
        if (sirs.length > 0)
          for (const q of yield* describeSpot("list", { SpotInstanceRequestIds: sirs }).pipe(Effect.orElseSucceed(() => [] as Array<SpotRequest>)))
            closed.set(q.SpotInstanceRequestId, q)
        // reverse DNS for many VMs at once: not one timeout after another
        const rest = yield* Effect.forEach(
          [...byId.values()],
          (vm) => toInstance(vm, now, vm.SpotInstanceRequestId !== undefined ? (closed.get(vm.SpotInstanceRequestId) ?? null) : null),
          { concurrency: 16 }
        )
        for (const inst of rest) if (inst.state !== InstanceState.Inexistent) out.set(inst.uuid!, inst)
        return [...out.values()]
      })

    const launchSpec = (userData: string) =>
      Effect.gen(function* () {
        const g = yield* groups
        const network =
          config.subnet_id === null
            ? {
                ...(g.ids.length > 0 ? { SecurityGroupIds: g.ids } : {}),
                ...(g.names.length > 0 ? { SecurityGroups: g.names } : {})
              }
            : config.use_public_ip_address
              ? { NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: config.subnet_id, AssociatePublicIpAddress: true, ...(g.ids.length > 0 ? { Groups: g.ids } : {}) }] }
              : { SubnetId: config.subnet_id, ...(g.ids.length > 0 ? { SecurityGroupIds: g.ids } : {}) }
        const bdm = blockDevices()
        return {
          ImageId: config.image_id,
          InstanceType: config.instance_type as any,
          ...(config.key_name !== null ? { KeyName: config.key_name } : {}),
          ...(config.availability_zone !== null ? { Placement: { AvailabilityZone: config.availability_zone } } : {}),
          ...network,
          ...(bdm !== undefined ? { BlockDeviceMappings: bdm } : {}),
          ...(userData !== "" ? { UserData: base64(userData) } : {})
        }
      })

    const boot = (r: string, options?: BootOptions) =>
      Effect.gen(function* () {
        yield* mine(r, "boot")
        const vcpus = yield* vcpusOf(config.instance_type)
        const name = yield* newInstanceName(prefix)
        const userData = yield* Effect.mapError(ud.render(name, options?.userData), (e) => err("boot", "invalid", e.message))
        const spec = yield* launchSpec(userData)
        const now = yield* nowSeconds
        if (!spot) {
          const out = yield* send(
            "boot",
            new RunInstancesCommand({
              ...(spec as any),
              MinCount: 1,
              MaxCount: 1,
              ClientToken: name,
              TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "Name", Value: name }] }]
            }),
            RunResult
          )
          const inst = yield* toInstance(out.Instances[0], now, null)
          return { ...inst, instance_name: name, vcpu_number: inst.vcpu_number || vcpus, creation_time: now, state: inst.state === InstanceState.Unknown ? InstanceState.Pending : inst.state }
        }
        const validUntil = config.spot_timeout !== null ? new Date((now + config.spot_timeout) * 1000) : undefined
        const { Placement, ...rest } = spec as any
        const out = yield* send(
          "boot",
          new RequestSpotInstancesCommand({
            SpotPrice: String(config.spot_bid),
            InstanceCount: 1,
            Type: "one-time",
            ...(validUntil !== undefined ? { ValidUntil: validUntil } : {}),
            ClientToken: name,
            LaunchSpecification: { ...rest, ...(Placement !== undefined ? { Placement } : {}) },
            TagSpecifications: [{ ResourceType: "spot-instances-request", Tags: [{ Key: "Name", Value: name }] }]
          }),
          SpotRequests.pipe(Schema.filter((x) => x.SpotInstanceRequests.length > 0 || "no spot request in the answer"))
        )
        const q = out.SpotInstanceRequests[0]
        return { ...requestOnly(q, now, null), instance_name: name, vcpu_number: vcpus, state: InstanceState.Pending, creation_time: now }
      })

    const young = (inst: Instance, now: number) => now - inst.creation_time < CONSISTENCY_WINDOW

    const refreshVm = (inst: Instance, id: string, now: number, q: SpotRequest | null) =>
      Effect.gen(function* () {
        const r = yield* Effect.either(describeInstances("refresh", { InstanceIds: [id] }))
        if (Either.isLeft(r) && r.left.kind !== "notfound") return yield* Effect.fail(r.left)
        const vm = Either.isRight(r) ? r.right[0] : undefined
        if (vm === undefined) return young(inst, now) ? { ...inst, last_update_time: now } : { ...inst, state: InstanceState.Inexistent, last_update_time: now }
        if (q !== null) yield* ensureNameTag(vm, nameTag(q.Tags) ?? inst.instance_name)
        const fresh = yield* toInstance(vm, now, q)
        return { ...fresh, uuid: inst.uuid, instance_name: inst.instance_name ?? fresh.instance_name, creation_time: inst.creation_time || fresh.creation_time, tasked: inst.tasked }
      })

    const spotRequestOf = (inst: Instance, op: string) =>
      Effect.gen(function* () {
        const r = yield* Effect.either(describeSpot(op, { SpotInstanceRequestIds: [inst.spot_id ?? inst.uuid!] }))
        if (Either.isLeft(r)) return r.left.kind === "notfound" ? null : yield* Effect.fail(r.left)
        return r.right[0] ?? null
      })

    const isSpot = (inst: Instance) => inst.spot_id !== null || (inst.uuid ?? "").startsWith("sir-")

    /**
     * The VMs named like a spot node whose request cannot be read: gone (moto
     * deletes a cancelled request; AWS forgets closed ones after a while) or
     * its lookup failed. Live ones first.
     */
    const vmsNamed = (inst: Instance, op: string) =>
      inst.instance_name === null
        ? Effect.succeed([] as Array<Ec2Instance>)
        : Effect.map(describeInstances(op, { Filters: [{ Name: "tag:Name", Values: [inst.instance_name] }] }), (vms) =>
            [...vms].sort((a, b) => Number(a.State.Name === "terminated") - Number(b.State.Name === "terminated"))
          )

    const refresh = (inst: Instance) =>
      Effect.gen(function* () {
        yield* mine(inst.cloud_resource, "refresh")
        const now = yield* nowSeconds
        if (inst.uuid === null) return { ...inst, state: InstanceState.Inexistent }
        if (!isSpot(inst)) return yield* refreshVm(inst, inst.uuid, now, null)
        const q = yield* spotRequestOf(inst, "refresh")
        if (q === null) {
          // The request vanished: its VM, if any, still says what became of it.
          const vm = (yield* vmsNamed(inst, "refresh"))[0]
          if (vm !== undefined) return yield* refreshVm(inst, vm.InstanceId, now, null)
          return young(inst, now) ? { ...inst, last_update_time: now } : { ...inst, state: InstanceState.Inexistent, last_update_time: now }
        }
        if (q.InstanceId === undefined) return requestOnly(q, now, inst)
        return yield* refreshVm(inst, q.InstanceId, now, q)
      })

    const terminate = (id: string) =>
      Effect.catchIf(
        Effect.asVoid(send("destroy", new TerminateInstancesCommand({ InstanceIds: [id] }), none)),
        (e) => e.kind === "notfound",
        () => Effect.void
      )

    const destroy = (inst: Instance) =>
      Effect.gen(function* () {
        yield* mine(inst.cloud_resource, "destroy")
        if (inst.uuid === null) return
        if (!isSpot(inst)) return yield* terminate(inst.uuid)
        // The VM first: cancelling a request leaves its VM running, and a
        // cancel that fails (a missing ec2:CancelSpotInstanceRequests
        // permission, throttling, a request already gone) must not keep the VM.
        const q = yield* Effect.either(spotRequestOf(inst, "destroy"))
        const vmId =
          Either.isRight(q) && q.right?.InstanceId !== undefined
            ? q.right.InstanceId
            : (yield* vmsNamed(inst, "destroy")).find((v) => v.State.Name !== "terminated")?.InstanceId
        if (vmId !== undefined) yield* terminate(vmId)
        // A request already gone, closed or cancelled has nothing to cancel (moto answers 500 to a second cancel).
        if (Either.isRight(q) && (q.right === null || (q.right.State !== "open" && q.right.State !== "active"))) return
        const sir = inst.spot_id ?? inst.uuid
        const cancelled = yield* Effect.either(send("destroy", new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sir] }), none))
        if (Either.isLeft(cancelled) && cancelled.left.kind !== "notfound") {
          // One-time requests: once their VM is terminated the request is closed and starts nothing.
          // A request with no VM yet could still start one: the destroy failed, and is retried.
          if (vmId === undefined) return yield* Effect.fail(cancelled.left)
        }
      })

    const coresPerNode = (r: string) => Effect.zipRight(mine(r, "instance type"), vcpusOf(config.instance_type))

    const probe = Effect.gen(function* () {
      const vcpus = yield* vcpusOf(config.instance_type)
      const mineNow = yield* list(resource)
      return `EC2 in ${config.region_name}${config.endpoint_url !== null ? ` at ${config.endpoint_url}` : ""} answers; ${config.instance_type} has ${vcpus} vCPUs; ${mineNow.length} instance(s) named ${prefix}-*${spot ? `; spot bid ${config.spot_bid}` : ""}`
    })

    return { resource, type: "aws", warnings: decoded.warnings, list, boot, refresh, destroy, coresPerNode, probe } satisfies ResourceCloud
  })

/** The factory for the daemon's registry. */
export const awsFactory: CloudFactory = (resource, rc, options = {}) => makeEc2Cloud(resource, rc, options)

/** The Cloud layer of one `cloud.<res>: {type: aws}` resource (the daemon's registry loads this module only when a resource needs it). */
export const layerEc2Cloud = (resource: string, rc: ResourceConfig, setup: CloudLayerSetup = {}): Layer.Layer<Cloud, CloudSetupError> =>
  layerResourceCloud(makeEc2Cloud(resource, rc, setup.options), setup)
