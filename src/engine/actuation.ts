/**
 * The actuator: turns a decision (decisions.ts) into its bookkeeping, done at
 * once (a node goes Holding or Deleting, a boot counts as in flight, the log
 * line), and its service calls, submitted as tasks whose results are applied
 * at a later step (tasks.ts). Every call to the Cluster, Cloud, Checker and
 * Hooks services that a step makes is here; operator actions (actions.ts)
 * reuse the same tasks.
 */
import { Effect } from "effect"
import { InstanceState, NodeState, hasJobs, jobList, type Instance } from "../model/types.ts"
import { forgetWhy, holdWhy, removeWhy, provisionLine, retireWhy, type EngineDecision } from "./decisions.ts"
import { errorClass, type CheckerService, type CloudError, type CloudErrorClass, type CloudService, type ClusterService, type HooksService, type NewNode } from "./services.ts"
import { startingNode, type EngineState, type NodeRec, type ResState } from "./state.ts"
import type { Apply } from "./tasks.ts"

export interface Services {
  readonly cluster: ClusterService
  readonly cloud: CloudService
  readonly checker: CheckerService
  readonly hooks: HooksService
}

export type Actuator = ReturnType<typeof makeActuator>

export const makeActuator = (st: EngineState, { cluster, cloud, checker, hooks }: Services) => {
  const { tasks } = st

  const newNodeOf = (n: NodeRec): NewNode => {
    const r = st.resources.get(n.instance.cloud_resource)
    return {
      hostname: n.hostname,
      ip: n.instance.ip,
      cores: n.instance.vcpu_number || n.num_proc,
      resource: n.instance.cloud_resource,
      reservation: r?.reservation ?? { queue: null, account: null, property: null },
      instanceName: n.instance.instance_name
    }
  }
  const hookArgs = (n: NodeRec): Array<string> => [n.hostname, n.instance.ip ?? "", n.instance.instance_name ?? "", n.instance.cloud_resource]

  /** Submit a task for a node; the node is `tasked` until its result is applied. */
  const nodeTask = (n: NodeRec, label: string, task: Effect.Effect<(n: NodeRec, now: number) => void>) => {
    const uuid = n.instance.uuid!
    n.instance = { ...n.instance, tasked: true }
    return tasks.submit(
      `${label} ${n.hostname}`,
      task.pipe(
        Effect.map(
          (f): Apply =>
            (now) => {
              const cur = st.nodes.get(uuid)
              if (cur === undefined) return
              // A result that writes the instance clears `tasked` in the same copy (one copy per result, not two).
              f(cur, now)
              if (cur.instance.tasked) cur.instance = { ...cur.instance, tasked: false }
            }
        )
      )
    )
  }

  /** A boot the cloud refused (a CloudError), or one it took whose VM then failed (a fault of that class). */
  type BootFailure = CloudError | { readonly cls: CloudErrorClass; readonly kind: string; readonly message: string; readonly retryAfter?: undefined }

  /** What a failed boot does, by the class of its error (services.ts `errorClass`, docs/clouds.md "Error classes"). */
  const bootFailed = (r: ResState, e: BootFailure, now: number, decision: number): void => {
    const cls = "cls" in e ? e.cls : errorClass(e.kind, e.op)
    const fields = { resource: r.name, kind: e.kind }
    if (cls === "throttle") {
      // Not the resource's fault: the cloud's client slows its calls (cloud-setup.ts makeCallRate); no back-off grows.
      if (e.retryAfter !== undefined) r.backoffUntil = Math.max(r.backoffUntil, now + e.retryAfter)
      st.log("warn", `boot in ${r.name} throttled by the cloud: ${e.message}; not counted as a failed boot`, fields)
      return
    }
    st.counters.boot_failures[r.name]++
    if (cls === "invalid") {
      r.invalid = e.message
      st.log("error", `boot in ${r.name} refused as invalid: ${e.message}; no more boots in ${r.name} until the configuration is reloaded`, fields)
      return
    }
    st.backoff(r, now, decision, e.retryAfter)
    const then = cls === "capacity" || cls === "quota" ? "; the next provisioning pass looks at the other resources at once" : ""
    st.log("warn", `boot in ${r.name} failed (${e.kind}): ${e.message}; backing off until +${Math.round(r.backoffUntil - now)}s${then}`, fields)
    if (then !== "") {
      // fall through to the next resource at the next step, not after auto_provision_interval
      st.lastProvision = -Infinity
      st.viewSinceProvision = true
    }
  }

  // ---------------------------------------------------------------- tasks

  const bootTask = (r: ResState, reason: string) => {
    // the boots of one step (or one operator action) are one decision (backoff.ts)
    const decision = st.counters.cycles
    r.inflight++
    return tasks.submit(
      `boot ${r.name}`,
      cloud.boot(r.name).pipe(
        Effect.map(
          (inst): Apply =>
            (now) => {
              r.inflight--
              st.bootSucceeded(r)
              st.counters.boots[r.name]++
              const uuid = inst.uuid ?? inst.instance_name ?? `unknown-${now}`
              const rec = startingNode(r, inst.instance_name ?? uuid, { ...inst, uuid, tasked: false, last_update_time: now, last_task_result: 0 }, now)
              st.nodes.set(uuid, rec)
              st.log("info", `booted ${rec.hostname} in ${r.name} (${reason})`, { resource: r.name, instance: inst.instance_name })
            }
        ),
        Effect.catchAll((e) =>
          Effect.succeed<Apply>((now) => {
            r.inflight--
            bootFailed(r, e, now, decision)
          })
        )
      )
    )
  }

  /** A successful refresh's result, applied to the node. */
  const refreshed =
    (inst: Instance) =>
    (cur: NodeRec, now: number): void => {
      cur.instance = { ...inst, uuid: cur.instance.uuid, tasked: false, last_update_time: now, last_task_result: 0 }
      if (cur.state === NodeState.Starting && (inst.state === InstanceState.Active || inst.state === InstanceState.Ready)) {
        cur.hostname = inst.dns_name ?? inst.instance_name ?? cur.hostname
        if (inst.vcpu_number > 0) cur.num_proc = inst.vcpu_number
      }
    }

  const refreshTask = (n: NodeRec) =>
    nodeTask(
      n,
      "refresh",
      // (no generator on the common path: a refresh runs every cloud poll interval for every starting node)
      Effect.suspend(() => {
        const before = n.instance
        return Effect.flatMap(Effect.either(cloud.refresh(before)), (r) => {
          if (r._tag === "Left") {
            const err = r.left
            return Effect.succeed((cur: NodeRec, now: number) => {
              cur.instance = { ...cur.instance, tasked: false, last_update_time: now, last_task_result: 1 }
              st.log("warn", `refresh of ${cur.hostname} failed: ${err.message}`, { host: cur.hostname })
            })
          }
          let inst = r.right
          // The cloud only knows Active; Ready is our checker's word and stays.
          if (before.state === InstanceState.Ready && inst.state === InstanceState.Active) inst = { ...inst, state: InstanceState.Ready }
          const becameActive =
            n.state === NodeState.Starting &&
            before.state < InstanceState.Active &&
            (inst.state === InstanceState.Active || inst.state === InstanceState.Ready)
          const apply = refreshed(inst)
          if (!becameActive) return Effect.succeed(apply)
          const got = inst
          return Effect.gen(function* () {
            const host = got.dns_name ?? got.instance_name ?? n.hostname
            const nn: NewNode = { ...newNodeOf(n), hostname: host, ip: got.ip, cores: got.vcpu_number || n.num_proc }
            yield* hooks.run("post_vm_provision_command", [host, got.ip ?? "", got.instance_name ?? "", got.cloud_resource])
            const act = yield* Effect.either(cluster.instanceActive(nn))
            if (act._tag === "Left") yield* Effect.sync(() => st.log("warn", `instance-active hook for ${host} failed: ${act.left.message}`))
            return apply
          })
        })
      })
    )

  /** Configuration check; on Ready a Starting node joins the cluster. */
  const checkTask = (n: NodeRec) =>
    nodeTask(
      n,
      "check",
      // (no generator on the common path: "not ready yet" every cloud poll interval while a node configures)
      Effect.flatMap(
        Effect.suspend(() => Effect.either(checker.check(n.instance))),
        (ok): Effect.Effect<(n: NodeRec, now: number) => void> => {
          if (ok._tag === "Left" || !ok.right) {
            const msg = ok._tag === "Left" ? ok.left.message : null
            return Effect.succeed((cur: NodeRec, now: number) => {
              cur.instance = { ...cur.instance, tasked: false, last_update_time: now, last_task_result: msg === null ? 0 : 1 }
              if (msg !== null) st.log("debug", `check of ${cur.hostname} failed: ${msg}`)
            })
          }
          if (n.state !== NodeState.Starting) {
            return Effect.succeed((cur: NodeRec, now: number) => {
              cur.instance = { ...cur.instance, tasked: false, state: InstanceState.Ready, last_update_time: now, last_task_result: 0 }
            })
          }
          return joinTask(n)
        }
      )
    )

  /** A Starting node whose check says ready: add it to the cluster (or take it out again and destroy it). */
  const joinTask = (n: NodeRec) =>
    Effect.gen(function* () {
      const nn = newNodeOf(n)
      const added = yield* Effect.either(cluster.addNode(nn))
      if (added._tag === "Right") {
        yield* hooks.run("post_add_node_command", [nn.hostname, nn.ip ?? ""])
        return (cur: NodeRec, now: number) => {
          cur.instance = { ...cur.instance, tasked: false, state: InstanceState.Ready, last_update_time: now, last_task_result: 0 }
          if (cur.state === NodeState.Starting) st.setState(cur, NodeState.Idle, now)
          st.log("info", `${cur.hostname} is ready and joined the cluster`, { host: cur.hostname })
        }
      }
      // Adding failed: take it out again and destroy it.
      yield* Effect.either(cluster.removeNode(nn.hostname, nn.reservation))
      const err = added.left
      return (cur: NodeRec, now: number) => {
        cur.instance = { ...cur.instance, tasked: false, state: InstanceState.Ready, last_update_time: now, last_task_result: 1 }
        st.toDeleting(cur, now, `adding it to the cluster failed: ${err.message}`)
      }
    })

  const destroyTask = (n: NodeRec) =>
    nodeTask(
      n,
      "destroy",
      Effect.gen(function* () {
        const r = yield* Effect.either(cloud.destroy(n.instance))
        return (cur: NodeRec, now: number) => {
          if (r._tag === "Left") {
            cur.instance = { ...cur.instance, tasked: false, last_update_time: now, last_task_result: 1 }
            st.log("warn", `destroy of ${cur.hostname} failed: ${r.left.message}`, { host: cur.hostname })
          } else {
            st.counters.destroys[cur.instance.cloud_resource] = (st.counters.destroys[cur.instance.cloud_resource] ?? 0) + 1
            cur.instance = { ...cur.instance, tasked: false, state: InstanceState.Deleting, last_update_time: now, last_task_result: 0 }
          }
        }
      })
    )

  /** Hold in the cluster (the node is Holding at once). */
  const holdTask = (n: NodeRec, now: number, why: string) => {
    st.setState(n, NodeState.Holding, now)
    st.log("info", `holding ${n.hostname}: ${why}`, { host: n.hostname })
    return nodeTask(
      n,
      "hold",
      Effect.gen(function* () {
        const r = yield* Effect.either(cluster.holdNode(n.hostname))
        return (cur: NodeRec) => {
          if (r._tag === "Left") st.log("warn", `hold of ${cur.hostname} failed: ${r.left.message}`, { host: cur.hostname })
        }
      })
    )
  }

  /** Remove from the cluster, run post_remove_node_command, then go Deleting (or as `after` says). */
  const removeTask = (n: NodeRec, why: string, after: "delete" | "error-timeout") => {
    const hasJ = hasJobs(n)
    return nodeTask(
      n,
      "remove",
      Effect.gen(function* () {
        const nn = newNodeOf(n)
        const r = yield* Effect.either(cluster.removeNode(n.hostname, nn.reservation))
        if (r._tag === "Right") yield* hooks.run("post_remove_node_command", [nn.hostname, nn.ip ?? ""])
        return (cur: NodeRec, now: number) => {
          if (r._tag === "Left") {
            if (after === "error-timeout") st.toDeleting(cur, now, `${why}; removal from the cluster failed (${r.left.message})`)
            else st.log("warn", `removing ${cur.hostname} from the cluster failed: ${r.left.message}`, { host: cur.hostname })
            return
          }
          if (after === "error-timeout" && hasJ) {
            st.log("error", `${cur.hostname} is in Error with jobs (${cur.jobs}); an administrator must act`, { host: cur.hostname })
            cur.jobs = cur.jobs // keep, the view will tell
            return
          }
          st.toDeleting(cur, now, why)
        }
      })
    )
  }

  /** A node whose instance is gone but which the batch system still lists: (requeue its jobs,) remove it there, then forget it. */
  const cleanupTask = (n: NodeRec, why: string, vacate: boolean) =>
    nodeTask(
      n,
      "cleanup",
      Effect.gen(function* () {
        if (vacate) {
          const jobs = jobList(n.jobs)
          if (jobs.length > 0) yield* Effect.either(cluster.vacateNode(n.hostname, jobs))
        }
        yield* Effect.either(cluster.removeNode(n.hostname, newNodeOf(n).reservation))
        yield* hooks.run("post_vm_destroy_command", hookArgs(n))
        return (cur: NodeRec) => st.forget(cur, why)
      })
    )

  // ---------------------------------------------------------------- decisions

  const bootN = (r: ResState, count: number, reason: string): Effect.Effect<void> | null => {
    if (count === 1) return bootTask(r, reason)
    const boots: Array<Effect.Effect<void>> = []
    for (let i = 0; i < count; i++) boots.push(bootTask(r, reason))
    return Effect.forEach(boots, (e) => e, { discard: true })
  }

  /**
   * Applies one decision: its bookkeeping and log line now, its service calls
   * as the returned effect (null: none), run in order at the end of the step.
   * `n` is the decision's node (node decisions only).
   */
  const actuate = (d: EngineDecision, n: NodeRec | undefined, now: number): Effect.Effect<void> | null => {
    switch (d.kind) {
      case "refresh":
        if (d.reason === "not_listed") st.unlisted.delete(n!.instance.uuid!)
        return refreshTask(n!)
      case "check":
        return checkTask(n!)
      case "hold":
        if (d.reason === "spot_interruption") st.spotInterrupted(d.resource, n!.instance.uuid!)
        return holdTask(n!, now, holdWhy(d))
      case "remove":
        if (d.reason === "spot_interruption") st.spotInterrupted(d.resource, n!.instance.uuid!)
        return removeTask(n!, removeWhy(d), d.reason === "error_timeout" ? "error-timeout" : "delete")
      case "retire":
        if (d.reason === "spot_interruption") st.spotInterrupted(d.resource, n!.instance.uuid!)
        st.toDeleting(n!, now, retireWhy(d))
        if (d.reason === "instance_error" && (d.fault?.class === "capacity" || d.fault?.class === "quota")) {
          // the cloud took the boot but could not place the VM (Nova: "No valid host was found"): a failed boot of this decision
          const r = st.resources.get(d.resource)
          if (r !== undefined) bootFailed(r, { cls: d.fault.class, kind: d.fault.class, message: `${n!.hostname}: ${d.fault.message}` }, now, st.counters.cycles)
        }
        return destroyTask(n!)
      case "destroy":
        return destroyTask(n!)
      case "forget":
        st.forget(n!, forgetWhy(d.reason))
        return hooks.run("post_vm_destroy_command", hookArgs(n!))
      case "cleanup":
        return cleanupTask(n!, forgetWhy(d.reason), d.vacate)
      case "provision": {
        const r = st.resources.get(d.resource)!
        const line = provisionLine(d)
        st.log("info", line.msg, line.fields)
        return bootN(r, d.count, d.reason === "below_min" ? "min" : "queued jobs")
      }
      case "refuse":
        return null
    }
  }

  return { actuate, bootTask, holdTask, removeTask, newNodeOf }
}
