/**
 * The SGE layer's configuration and the pieces that need no Grid Engine
 * (the layer itself runs against the real one in *.integration.test.ts).
 */
import { Effect, Either, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { Cluster } from "../../engine/services.ts"
import { parseConfigText, type ConfigFile } from "../../model/config.ts"
import { exechostFile, hostgroupFor, makeSgeCluster, SGE_DEFAULTS, sgeConfigWarnings, sgeSettings } from "./layer.ts"

/** The SGE cluster section of the configuration examples (model/config.test.ts SGE_AWS_YAML), as written for the first version. */
const CLASSIC = `
cluster:
  type: sge
  config:
    queue_to_monitor: [all.q, gpu.q]
    queued_job_number_to_display: 0
    post_add_node_command: /usr/local/bin/added.sh {0} {1}
    post_remove_node_command: /usr/local/bin/removed.sh {0} {1}
    qstat_command: /usr/bin/qstat -xml -r
    qhost_command: /usr/bin/qhost -q -j -xml {0} {1}
    hostgroup_command: /usr/bin/qconf {0} hostgroup hostlist {1} {2}
    qmod_command: /usr/bin/qmod {0} *@{1}
    remove_node_command: /usr/bin/qconf -de {0}
    set_slots_command: /usr/bin/qconf -rattr queue slots {0} {1}@{2}
    unset_slots_command: /usr/bin/qconf -purge queue slots {0}@{1}
    qconf_spl_command: /usr/bin/qconf -spl
    qconf_sp_command: /usr/bin/qconf -sp {0}
    qdel_command: /usr/bin/qdel -f {0}
`
const load = (text: string): ConfigFile => Either.getOrThrowWith(parseConfigText(text), (e) => new Error(e.message)).config

describe("SGE configuration", () => {
  it("a first-version configuration loads unchanged; absent keys take the defaults", () => {
    const s = Either.getOrThrowWith(sgeSettings(load(CLASSIC)), (e) => new Error(e.message))
    expect(s.queue_to_monitor).toEqual(["all.q", "gpu.q"])
    expect(s.qmod_command).toBe("/usr/bin/qmod {0} *@{1}")
    expect(s.add_exechost_command).toBe(SGE_DEFAULTS.add_exechost_command)
    expect([s.default_hostgroup, s.pe_cache_time, s.command_timeout]).toEqual(["@allhosts", 300, 60])
    // the classic qstat without -u only sees the scaler's own jobs: said at start-up
    expect(sgeConfigWarnings(s)).toEqual([expect.stringContaining("has no -u option")])
  })

  it("the defaults list every user's jobs", () => {
    const s = Either.getOrThrowWith(sgeSettings(load("cluster:\n  type: sge\n")), (e) => new Error(e.message))
    expect(s.qstat_command).toBe("/usr/bin/qstat -xml -r -u *")
    expect(sgeConfigWarnings(s)).toEqual([])
  })

  it("wrong values name the key; the layer refuses to start with them", async () => {
    const bad = load(`
cluster:
  type: sge
  config:
    qmod_command: "/usr/bin/qmod {0} '*@{1}"
    default_hostgroup: allhosts
    pe_cache_time: -1
`)
    const r = sgeSettings(bad)
    expect(Either.isLeft(r)).toBe(true)
    const problems = Either.isLeft(r) ? r.left.problems : []
    expect(problems).toContain('cluster.config.default_hostgroup: expected a host group name such as @allhosts, got "allhosts"')
    expect(problems).toContain("cluster.config.pe_cache_time: expected a positive number (seconds), got -1")
    const exit = await Effect.runPromiseExit(Effect.scoped(Effect.flatMap(Effect.provide(Cluster, makeSgeCluster(bad)), () => Effect.void)))
    expect(Exit.isFailure(exit)).toBe(true)
    const broken = sgeSettings(load(`cluster:\n  type: sge\n  config:\n    qmod_command: "/usr/bin/qmod {0} '*@{1}"\n`))
    expect(Either.isLeft(broken) && broken.left.problems).toEqual([expect.stringMatching(/^cluster.config.qmod_command: unterminated single quote/)])
  })

  it("reservations: the account is the host group, else the default group", () => {
    const s = { default_hostgroup: "@allhosts" }
    expect(hostgroupFor(s, { queue: null, account: "@physics", property: null })).toBe("@physics")
    expect(hostgroupFor(s, { queue: null, account: "physics", property: null })).toBe("@physics")
    expect(hostgroupFor(s, { queue: "all.q", account: null, property: null })).toBe("@allhosts")
    expect(hostgroupFor({ default_hostgroup: null }, { queue: null, account: null, property: null })).toBeNull()
  })

  it("the exec host file is the recipe's, for one host", () => {
    expect(exechostFile("vm-1").split("\n")).toEqual([
      "hostname vm-1",
      "load_scaling NONE",
      "complex_values NONE",
      "user_lists NONE",
      "xuser_lists NONE",
      "projects NONE",
      "xprojects NONE",
      "usage_scaling NONE",
      "report_variables NONE",
      ""
    ])
  })
})
