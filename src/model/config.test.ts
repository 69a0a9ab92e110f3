import { Either } from "effect"
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { parse as parseYaml } from "yaml"
import {
  ConfigError,
  type LoadedConfig,
  engineSettings,
  loadConfigFile,
  parseConfigText,
  redactSecrets
} from "./config.ts"

// ---------------------------------------------------------------- fixtures

/** The seed's GET /server/config example response (seed/restapi.md), verbatim. */
const SEED_JSON = String.raw`{
    "cloud": {
        "os-res": {
            "config": {
                "auth_url": "https://keystone.rc.nectar.org.au:5000/v2.0/",
                "availability_zone": "sa",
                "flavor": "m1.small",
                "flavor_id": "0",
                "image_uuid": "1b66d8cd-7d10-413a-ae06-3b61560e788a",
                "instance_name_prefix": "dynamicwn",
                "key_name": "ersakey",
                "project": "blah",
                "security_groups": [
                    "dc-dynamic_cluster_wn-vgg7h5udejdb"
                ],
                "userdata_file": "/etc/dynamiccluster/userdata_salt.sh",
                "username": "blah"
            },
            "priority": 1,
            "quantity": {
                "max": 3,
                "min": 1
            },
            "reservation": {
                "account": null,
                "property": null,
                "queue": null
            },
            "type": "openstack"
        }
    },
    "cluster": {
        "config": {
            "add_node_command": "/usr/bin/qmgr -c \"create node {0}\"",
            "check_node_command": "/usr/bin/checknode {0}",
            "delete_job_command": "/usr/bin/qdel -p {0}",
            "diagnose_p_command": "/usr/bin/diagnose -p",
            "pbsnodes_command": "/usr/bin/pbsnodes {0} {1}",
            "qstat_command": "/usr/bin/qstat -x -t",
            "queue_to_monitor": [
                "default"
            ],
            "queued_job_number_to_display": 30,
            "releaseres_command": "/usr/bin/releaseres ${"`"}/usr/bin/showres -n | grep User | grep {0} | grep {1} | awk '{{print $3}}' ${"`"}",
            "remove_node_command": "/usr/bin/qmgr -c \"delete node {0}\"",
            "set_node_command": "/usr/bin/qmgr -c \"set node {0} {1} {2} {3}\"",
            "setres_command": "/usr/bin/setres {0} {1} {2}",
            "showres_command": "/usr/bin/showres -n | grep {0}",
            "signal_job_command": "/usr/bin/qsig -s {0} {1}"
        },
        "type": "torque"
    },
    "dynamic-cluster": {
        "admin-server": {
            "port": 8001
        },
        "auto_mode": true,
        "cloud_poller_interval": 20,
        "cluster_poller_interval": 10,
        "config-checker": {
            "plugin": {
                "name": "dynamiccluster.saltclient.SaltChecker"
            }
        },
        "max_down_time": 480,
        "max_idle_time": 600,
        "max_launch_time": 1200,
        "post_vm_destroy_command": "/etc/dynamiccluster/wn.sh -d {0} {1} {2}",
        "post_vm_provision_command": "/etc/dynamiccluster/wn.sh -a {0} {1} {2}",
        "worker_number": 2
    },
    "logging": {
        "log_format": "%(asctime)s - %(levelname)s - %(processName)s - %(threadName)s - %(message)s",
        "log_level": 3,
        "log_location": "/var/log/dynamiccluster/dynamiccluster.log",
        "log_max_size": 2097152
    },
    "plugins": {
        "graphite": {
            "arguments": {
                "hostname": "localhost",
                "port": 2003,
                "prefix": "headnode.dynamiccluster"
            },
            "class_name": "dynamiccluster.graphite.GraphiteReporter"
        }
    }
}`

/** The same configuration as the YAML file an operator of the first version wrote. */
const SEED_YAML = String.raw`
dynamic-cluster:
  admin-server:
    port: 8001
  auto_mode: true
  cloud_poller_interval: 20
  cluster_poller_interval: 10
  config-checker:
    plugin:
      name: dynamiccluster.saltclient.SaltChecker
  max_down_time: 480
  max_idle_time: 600
  max_launch_time: 1200
  post_vm_destroy_command: /etc/dynamiccluster/wn.sh -d {0} {1} {2}
  post_vm_provision_command: /etc/dynamiccluster/wn.sh -a {0} {1} {2}
  worker_number: 2
cluster:
  type: torque
  config:
    add_node_command: '/usr/bin/qmgr -c "create node {0}"'
    check_node_command: /usr/bin/checknode {0}
    delete_job_command: /usr/bin/qdel -p {0}
    diagnose_p_command: /usr/bin/diagnose -p
    pbsnodes_command: /usr/bin/pbsnodes {0} {1}
    qstat_command: /usr/bin/qstat -x -t
    queue_to_monitor:
      - default
    queued_job_number_to_display: 30
    releaseres_command: "/usr/bin/releaseres ${"`"}/usr/bin/showres -n | grep User | grep {0} | grep {1} | awk '{{print $3}}' ${"`"}"
    remove_node_command: '/usr/bin/qmgr -c "delete node {0}"'
    set_node_command: '/usr/bin/qmgr -c "set node {0} {1} {2} {3}"'
    setres_command: /usr/bin/setres {0} {1} {2}
    showres_command: /usr/bin/showres -n | grep {0}
    signal_job_command: /usr/bin/qsig -s {0} {1}
cloud:
  os-res:
    type: openstack
    priority: 1
    quantity:
      min: 1
      max: 3
    reservation:
      queue: null
      account: null
      property: null
    config:
      auth_url: https://keystone.rc.nectar.org.au:5000/v2.0/
      availability_zone: sa
      flavor: m1.small
      flavor_id: "0"
      image_uuid: 1b66d8cd-7d10-413a-ae06-3b61560e788a
      instance_name_prefix: dynamicwn
      key_name: ersakey
      project: blah
      security_groups:
        - dc-dynamic_cluster_wn-vgg7h5udejdb
      userdata_file: /etc/dynamiccluster/userdata_salt.sh
      username: blah
plugins:
  graphite:
    class_name: dynamiccluster.graphite.GraphiteReporter
    arguments:
      hostname: localhost
      port: 2003
      prefix: headnode.dynamiccluster
logging:
  log_format: "%(asctime)s - %(levelname)s - %(processName)s - %(threadName)s - %(message)s"
  log_level: 3
  log_location: /var/log/dynamiccluster/dynamiccluster.log
  log_max_size: 2097152
`

/** SPEC §2 cloud resource example, inside a minimal full configuration. */
const SPEC_RESOURCE_YAML = `
cluster:
  type: torque
cloud:
  os-res:
    type: openstack          # or aws
    priority: 1              # lower = preferred
    quantity: {min: 1, max: 3}
    reservation: {queue: null, account: null, property: null}
    config:                  # cloud specific
      auth_url: https://keystone.example.org:5000/v3/
      username: demo
      password: hunter2
      project: demo
      user_domain_name: Default
      project_domain_name: Default
      image_uuid: 1b66d8cd-7d10-413a-ae06-3b61560e788a
      flavor: m1.small
      key_name: demo
      security_groups: [default]
      availability_zone: sa
      instance_name_prefix: dynamicwn
      userdata_file: /etc/dynamiccluster/userdata.sh
      network: private
      region: Melbourne
`

const SGE_AWS_YAML = `
dynamic-cluster:
  worker_thread_number: 4
  config-checker:
    port: {number: 22, timeout: 5}
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
cloud:
  aws-res:
    type: aws
    priority: 2
    quantity: {min: 0, max: 10}
    reservation: {queue: all.q, account: null, property: null}
    price: 0.096
    config:
      access_key_id: AKIAEXAMPLE
      secret_access_key: wJalrXUtnFEMI/K7MDENG
      region_name: ap-southeast-2
      image_id: ami-0123456789abcdef0
      instance_type: m5.large
      key_name: cluster
      security_groups: [sg-0123]
      availability_zone: ap-southeast-2a
      subnet_id: subnet-0123
      use_public_ip_address: false
      disk_map:
        /dev/sdb: {device: /dev/sdb, size: 100, delete_on_termination: true}
      instance_name_prefix: awswn
      userdata_file: /etc/dynamiccluster/userdata_aws.sh
      spot_bid: 0.05
      spot_timeout: 300
      proxy: proxy.example.org
      proxy_port: 3128
`

/** A valid full configuration with `cloud.os-res.quantity` replaced. */
const withQuantity = (quantity: string) => `
cluster:
  type: torque
cloud:
  os-res:
    type: openstack
    quantity: ${quantity}
`

const ok = (r: Either.Either<LoadedConfig, ConfigError>): LoadedConfig => {
  if (Either.isLeft(r)) throw new Error(`expected the configuration to load:\n${r.left.message}`)
  return r.right
}
const fail = (r: Either.Either<LoadedConfig, ConfigError>): ConfigError => {
  if (Either.isRight(r)) throw new Error(`expected a ConfigError, got ${JSON.stringify(r.right.config)}`)
  expect(r.left).toBeInstanceOf(ConfigError)
  expect(r.left._tag).toBe("ConfigError")
  return r.left
}

// ---------------------------------------------------------------- loading

describe("classic configuration (seed GET /server/config)", () => {
  it("the YAML fixture holds exactly the seed's keys and values", () => {
    expect(parseYaml(SEED_YAML)).toEqual(JSON.parse(SEED_JSON))
  })

  it("loads without errors or warnings, and resolves worker_number", () => {
    const { config, warnings } = ok(parseConfigText(SEED_YAML))
    expect(warnings).toEqual([])
    const s = engineSettings(config)
    expect(s.workers).toBe(2)
    expect(s.autoMode).toBe(true)
    expect(s.queueToMonitor).toEqual(["default"])
    expect(s.queuedJobNumberToDisplay).toBe(30)
    expect(s.postVmProvisionCommand).toBe("/etc/dynamiccluster/wn.sh -a {0} {1} {2}")
    expect(s.postVmDestroyCommand).toBe("/etc/dynamiccluster/wn.sh -d {0} {1} {2}")
    expect(config.cluster.type).toBe("torque")
    expect((config.cluster.config as Record<string, unknown>).showres_command).toBe("/usr/bin/showres -n | grep {0}")
    const res = config.cloud["os-res"]
    expect(res.type).toBe("openstack")
    expect(res.priority).toBe(1)
    expect(res.quantity).toEqual({ min: 1, max: 3 })
    expect(res.reservation).toEqual({ queue: null, account: null, property: null })
    expect(res.config.flavor).toBe("m1.small")
    expect(config["dynamic-cluster"]["config-checker"]?.plugin?.name).toBe("dynamiccluster.saltclient.SaltChecker")
    expect(config["dynamic-cluster"]["admin-server"].port).toBe(8001)
    expect(config.logging.log_level).toBe(3)
    expect(config.logging.log_max_size).toBe(2097152)
    expect(config.plugins.graphite?.arguments).toEqual({ hostname: "localhost", port: 2003, prefix: "headnode.dynamiccluster" })
  })

  it("the JSON form (as the API returns it) decodes the same way", () => {
    const fromJson = ok(parseConfigText(SEED_JSON))
    expect(fromJson.config).toEqual(ok(parseConfigText(SEED_YAML)).config)
  })
})

describe("SPEC §2 defaults", () => {
  it("apply when dynamic-cluster is absent", () => {
    const { config, warnings } = ok(parseConfigText("cluster:\n  type: torque\n"))
    expect(warnings).toEqual([])
    const s = engineSettings(config)
    expect(s).toMatchObject({
      autoMode: true,
      workers: 2,
      maxIdleTime: 600,
      maxDownTime: 480,
      maxLaunchTime: 1200,
      clusterPollerInterval: 10,
      cloudPollerInterval: 20,
      autoProvisionInterval: 60,
      reconcileEveryPolls: 6,
      postVmProvisionCommand: null,
      postVmDestroyCommand: null,
      queueToMonitor: []
    })
    expect(config["dynamic-cluster"]["admin-server"].port).toBe(8001)
    expect(config["dynamic-cluster"]["config-checker"]).toBeNull()
    expect(config.cloud).toEqual({})
  })

  it("policy: lean unless the configuration names one; a configuration that names classic keeps it", () => {
    expect(ok(parseConfigText("cluster:\n  type: torque\n")).config["dynamic-cluster"].policy).toBe("lean")
    expect(ok(parseConfigText("dynamic-cluster:\n  max_idle_time: 120\ncluster: {type: torque}\n")).config["dynamic-cluster"].policy).toBe("lean")
    const classic = ok(parseConfigText("dynamic-cluster:\n  policy: classic\ncluster: {type: torque}\n"))
    expect(classic.warnings).toEqual([])
    expect(classic.config["dynamic-cluster"].policy).toBe("classic")
    expect(engineSettings(classic.config).policy).toBe("classic")
  })

  it("apply per key when dynamic-cluster is partly given or empty", () => {
    const a = ok(parseConfigText("dynamic-cluster:\n  max_idle_time: 120\ncluster: {type: torque}\n")).config
    expect(engineSettings(a)).toMatchObject({ maxIdleTime: 120, maxDownTime: 480, workers: 2, autoMode: true })
    expect(a["dynamic-cluster"]["admin-server"].port).toBe(8001)
    // an empty section (everything commented out) is the same as an absent one
    const b = ok(parseConfigText("dynamic-cluster:\nplugins:\ncluster: {type: torque}\n")).config
    expect(engineSettings(b).maxIdleTime).toBe(600)
    expect(b.plugins).toEqual({})
  })

  it("a resource's priority, min and reservation default", () => {
    const { config } = ok(parseConfigText(withQuantity("{max: 2}")))
    expect(config.cloud["os-res"]).toMatchObject({
      priority: 1,
      quantity: { min: 0, max: 2 },
      reservation: { queue: null, account: null, property: null },
      config: {}
    })
  })

  it("worker_thread_number / worker_process_number set the worker count", () => {
    const t = ok(parseConfigText("dynamic-cluster: {worker_thread_number: 5}\ncluster: {type: sge}\n")).config
    expect(engineSettings(t).workers).toBe(5)
    const p = ok(parseConfigText("dynamic-cluster: {worker_process_number: 3}\ncluster: {type: sge}\n")).config
    expect(engineSettings(p).workers).toBe(3)
  })

  it("reads YAML 1.1 booleans like the first version's loader", () => {
    const { config } = ok(parseConfigText("dynamic-cluster: {auto_mode: no}\ncluster: {type: torque}\n"))
    expect(engineSettings(config).autoMode).toBe(false)
  })
})

describe("SPEC §2 examples", () => {
  it("the cloud resource example loads inside a full configuration", () => {
    const { config, warnings } = ok(parseConfigText(SPEC_RESOURCE_YAML))
    expect(warnings).toEqual([])
    expect(config.cloud["os-res"]).toMatchObject({
      type: "openstack",
      priority: 1,
      quantity: { min: 1, max: 3 },
      reservation: { queue: null, account: null, property: null }
    })
    expect(config.cloud["os-res"].config.auth_url).toBe("https://keystone.example.org:5000/v3/")
  })

  it("an SGE cluster with an AWS resource loads", () => {
    const { config, warnings } = ok(parseConfigText(SGE_AWS_YAML))
    expect(warnings).toEqual([])
    expect(config.cluster.type).toBe("sge")
    const c = config.cluster.config as Record<string, unknown>
    for (const k of [
      "qstat_command",
      "qhost_command",
      "hostgroup_command",
      "qmod_command",
      "remove_node_command",
      "set_slots_command",
      "unset_slots_command",
      "qconf_spl_command",
      "qconf_sp_command",
      "qdel_command"
    ]) {
      expect(typeof c[k], k).toBe("string")
    }
    const s = engineSettings(config)
    expect(s.workers).toBe(4)
    expect(s.queueToMonitor).toEqual(["all.q", "gpu.q"])
    expect(s.queuedJobNumberToDisplay).toBe(0)
    expect(s.postAddNodeCommand).toBe("/usr/local/bin/added.sh {0} {1}")
    expect(config["dynamic-cluster"]["config-checker"]?.port).toEqual({ number: 22, timeout: 5 })
    const aws = config.cloud["aws-res"]
    expect(aws.type).toBe("aws")
    expect(aws.price).toBe(0.096)
    expect(aws.reservation.queue).toBe("all.q")
    expect(aws.config).toMatchObject({
      spot_bid: 0.05,
      spot_timeout: 300,
      use_public_ip_address: false,
      disk_map: { "/dev/sdb": { device: "/dev/sdb", size: 100, delete_on_termination: true } }
    })
  })
})

// ---------------------------------------------------------------- errors

describe("errors name the key path", () => {
  it("a wrong type", () => {
    const e = fail(parseConfigText(withQuantity("{min: 1, max: three}")))
    expect(e.problems).toEqual([`cloud.os-res.quantity.max: expected a non-negative integer, got "three"`])
    expect(e.message).toContain(`cloud.os-res.quantity.max: expected a non-negative integer, got "three"`)
  })

  it("a negative or fractional count", () => {
    expect(fail(parseConfigText(withQuantity("{min: -1, max: 2}"))).problems).toEqual([
      "cloud.os-res.quantity.min: expected a non-negative integer, got -1"
    ])
    expect(fail(parseConfigText(withQuantity("{max: 2.5}"))).problems).toEqual([
      "cloud.os-res.quantity.max: expected a non-negative integer, got 2.5"
    ])
  })

  it("a billing model with a bad unit or minimum names cloud.<name>.billing.<key>", () => {
    const billing = (b: string) => withQuantity("{max: 2}") + `    billing: ${b}\n`
    expect(ok(parseConfigText(billing("{per: second, minimum: 60}"))).config.cloud["os-res"].billing).toEqual({ per: "second", minimum: 60 })
    expect(ok(parseConfigText(billing("{per: hour}"))).config.cloud["os-res"].billing).toEqual({ per: "hour" })
    expect(fail(parseConfigText(billing("{per: day}"))).problems).toEqual(['cloud.os-res.billing.per: expected second, minute or hour, got "day"'])
    expect(fail(parseConfigText(billing("{per: second, minimum: -5}"))).problems).toEqual([
      "cloud.os-res.billing.minimum: expected a non-negative number (seconds), got -5"
    ])
    expect(fail(parseConfigText(billing("{minimum: 60}"))).problems).toEqual(["cloud.os-res.billing.per: is required but missing"])
    const unknown = fail(parseConfigText(billing("{per: second, minimun: 60}"))).problems
    expect(unknown).toHaveLength(1)
    expect(unknown[0]).toMatch(/^cloud\.os-res\.billing\.minimun: /)
  })

  it("a missing cluster.type", () => {
    const e = fail(parseConfigText("cluster:\n  config: {}\n"))
    expect(e.problems).toEqual(["cluster.type: is required but missing"])
  })

  it("a missing cluster section", () => {
    expect(fail(parseConfigText("dynamic-cluster: {}\n")).problems).toEqual(["cluster: is required but missing"])
  })

  it("a missing quantity.max", () => {
    const e = fail(parseConfigText(withQuantity("{min: 1}")))
    expect(e.problems).toEqual(["cloud.os-res.quantity.max: is required but missing"])
  })

  it("min greater than max names cloud.<name>.quantity", () => {
    const e = fail(parseConfigText(withQuantity("{min: 4, max: 3}")))
    expect(e.problems).toHaveLength(1)
    expect(e.problems[0]).toMatch(/^cloud\.os-res\.quantity: /)
    expect(e.problems[0]).toContain("min (4) must not be greater than max (3)")
  })

  it("an unknown cluster or cloud type lists the choices", () => {
    const e = fail(parseConfigText("cluster: {type: pbspro}\ncloud: {r: {type: azure, quantity: {max: 1}}}\n"))
    expect(e.problems).toEqual([
      `cluster.type: expected one of torque, sge, slurm, simulated, got "pbspro"`,
      `cloud.r.type: expected one of openstack, aws, simulated, got "azure"`
    ])
  })

  it("a scalar where a mapping belongs", () => {
    const e = fail(parseConfigText("cluster: {type: torque, config: 5}\ndynamic-cluster: {admin-server: 8001}\n"))
    expect(e.problems).toEqual([
      "dynamic-cluster.admin-server: expected a mapping, got 8001",
      "cluster.config: expected a mapping, got 5"
    ])
  })

  it("optional and nullable keys report only the real expectation", () => {
    const e = fail(
      parseConfigText("cluster: {type: torque}\ndynamic-cluster: {max_idle_time: soon, config-checker: salt, worker_number: 0}\n")
    )
    expect(e.problems).toEqual([
      `dynamic-cluster.config-checker: expected a mapping, got "salt"`,
      "dynamic-cluster.worker_number: expected a positive integer, got 0",
      `dynamic-cluster.max_idle_time: expected a positive number (seconds), got "soon"`
    ])
    expect(e.message).not.toMatch(/undefined|expected null/)
  })

  it("reconcile_every_polls: a positive whole number of cloud polls", () => {
    for (const bad of ["0", "-2", "2.5", "often"])
      expect(fail(parseConfigText(`cluster: {type: torque}\ndynamic-cluster: {reconcile_every_polls: ${bad}}\n`)).problems).toEqual([
        `dynamic-cluster.reconcile_every_polls: expected a positive integer, got ${bad === "often" ? '"often"' : bad}`
      ])
    expect(engineSettings(ok(parseConfigText("cluster: {type: torque}\ndynamic-cluster: {reconcile_every_polls: 3}\n")).config).reconcileEveryPolls).toBe(3)
  })

  it("reports every error, not only the first", () => {
    const e = fail(
      parseConfigText(`
dynamic-cluster:
  auto_mode: maybe
  admin-server: {port: 99999}
cluster:
  config: {queue_to_monitor: default}
cloud:
  a: {type: openstack, quantity: {max: three}}
  b: {type: aws, priority: first, quantity: {min: 5, max: 2}}
logging: {log_level: 7}
`)
    )
    expect(e.problems).toEqual(
      expect.arrayContaining([
        `dynamic-cluster.auto_mode: expected true or false, got "maybe"`,
        "dynamic-cluster.admin-server.port: expected a TCP port number (0-65535), got 99999",
        "cluster.type: is required but missing",
        `cluster.config.queue_to_monitor: expected a list of queue names, got "default"`,
        `cloud.a.quantity.max: expected a non-negative integer, got "three"`,
        `cloud.b.priority: expected an integer, got "first"`,
        "cloud.b.quantity: min (5) must not be greater than max (2)",
        "logging.log_level: expected 0 (error) .. 3 (debug), got 7"
      ])
    )
    expect(e.problems).toHaveLength(8)
    for (const p of e.problems) expect(e.message).toContain(`  - ${p}`)
  })

  it("invalid YAML names the YAML problem and its line", () => {
    const e = fail(parseConfigText("cluster:\n  type: [torque\n", "dc.yaml"))
    expect(e.problems).toHaveLength(1)
    expect(e.problems[0]).toMatch(/^YAML syntax error: .*line \d+, column \d+/)
    expect(e.message).toMatch(/^dc\.yaml: /)
    const tab = fail(parseConfigText("cluster:\n\ttype: torque\n"))
    expect(tab.problems[0]).toMatch(/^YAML syntax error: .*[Tt]ab/)
  })

  it("a document that is not a mapping", () => {
    expect(fail(parseConfigText("- cluster\n- cloud\n")).problems).toEqual([
      `(top level): expected a mapping of sections (dynamic-cluster, cluster, cloud, plugins, logging), got ["cluster","cloud"]`
    ])
    expect(fail(parseConfigText("just a string\n")).problems[0]).toMatch(/^\(top level\): expected a mapping of sections/)
    expect(fail(parseConfigText("")).problems[0]).toMatch(/^\(top level\): the document is empty/)
    expect(fail(parseConfigText("# only comments\n")).problems[0]).toMatch(/empty/)
  })
})

// ---------------------------------------------------------------- warnings

describe("unknown keys are errors with their key path and a suggestion", () => {
  const misspelt = `
dynamic-cluster:
  max_idel_time: 60
  admin-server: {port: 8002, hots: 0.0.0.0}
  config-checker: {port: {number: 22, timout: 3}}
cluster: {type: torque}
cloud:
  r:
    type: openstack
    quantity: {max: 1, mn: 1}
    reservation: {acount: x}
plugins:
  graphite: {arguments: {hostnme: x}}
logging: {loglevel: 3}
extra_section: {}
`
  it("misspelt keys at any level stop start-up, each with the closest known key", () => {
    expect(fail(parseConfigText(misspelt)).problems).toEqual([
      "dynamic-cluster.max_idel_time: unknown key (did you mean max_idle_time?)",
      "dynamic-cluster.admin-server.hots: unknown key (did you mean host?)",
      "dynamic-cluster.config-checker.port.timout: unknown key (did you mean timeout?)",
      "cloud.r.quantity.mn: unknown key (did you mean min?)",
      "cloud.r.reservation.acount: unknown key (did you mean account?)",
      "plugins.graphite.arguments.hostnme: unknown key (did you mean hostname?)",
      "logging.loglevel: unknown key (did you mean log_level?)",
      "extra_section: unknown key"
    ])
  })

  it("with allowUnknownKeys they are warnings and the defaults stay", () => {
    const { config, warnings } = ok(parseConfigText(misspelt, "configuration", { allowUnknownKeys: true }))
    expect(warnings).toContain("dynamic-cluster.max_idel_time: unknown key (did you mean max_idle_time?), ignored")
    expect(warnings).toHaveLength(8)
    expect(engineSettings(config).maxIdleTime).toBe(600)
  })

  it("a key the first version read and this one does not is a warning (its files load unchanged)", () => {
    const { warnings } = ok(parseConfigText("dynamic-cluster: {admin-server: {port: 8001, debug: false}}\ncluster: {type: torque}\n"))
    expect(warnings).toEqual(["dynamic-cluster.admin-server.debug: unknown key, ignored"])
  })

  it("an unknown key is reported with the type errors", () => {
    expect(fail(parseConfigText("dynamic-cluster: {max_idle_time: -1, max_idel_time: 3}\ncluster: {type: torque}\n")).problems).toEqual([
      "dynamic-cluster.max_idle_time: expected a positive number (seconds), got -1",
      "dynamic-cluster.max_idel_time: unknown key (did you mean max_idle_time?)"
    ])
  })

  it("keys inside open maps are not warned about", () => {
    const { warnings } = ok(
      parseConfigText(`
dynamic-cluster:
  config-checker:
    plugin: {name: dynamiccluster.saltclient.SaltChecker, master: salt.example.org}
cluster:
  type: torque
  config: {qstat_command: /usr/bin/qstat -x -t, some_future_template: x}
cloud:
  r: {type: openstack, quantity: {max: 1}, config: {flavor: m1.small, anything_else: {deep: 1}}}
plugins:
  statsd: {arguments: {host: localhost}, whatever: 1}
`)
    )
    expect(warnings).toEqual([])
  })

  it("a repeated key keeps its last value, with a warning", () => {
    const { config, warnings } = ok(parseConfigText("cluster: {type: torque}\ndynamic-cluster:\n  max_idle_time: 1\n  max_idle_time: 2\n"))
    expect(engineSettings(config).maxIdleTime).toBe(2)
    expect(warnings).toEqual(["dynamic-cluster.max_idle_time: duplicate key, the last value is used"])
  })
})

// ---------------------------------------------------------------- secrets

describe("redactSecrets", () => {
  it("removes secret keys at any depth without touching the input", () => {
    const input = {
      cloud: {
        "os-res": { config: { username: "u", password: "p", os_password: "p2", flavor: "m1.small" } },
        "aws-res": { config: { access_key_id: "AKIA", secret_access_key: "s", SecretThing: 1, spot_bid: 0.05 } }
      },
      "dynamic-cluster": { "admin-server": { port: 8001, token: "t", token_for_reads: true } },
      list: [{ api_token: "x", keep: 1 }, "plain", 3, null],
      auth_tokens: ["a"]
    }
    const before = structuredClone(input)
    const out = redactSecrets(input)
    expect(out).toEqual({
      cloud: {
        "os-res": { config: { username: "u", flavor: "m1.small" } },
        "aws-res": { config: { access_key_id: "AKIA", spot_bid: 0.05 } }
      },
      "dynamic-cluster": { "admin-server": { port: 8001 } },
      list: [{ keep: 1 }, "plain", 3, null]
    })
    expect(input).toEqual(before)
    expect(out).not.toBe(input)
    const text = JSON.stringify(out)
    for (const s of ["password", "secret", "token", '"p"', '"s"']) expect(text.toLowerCase()).not.toContain(s.toLowerCase())
  })

  it("redacts a loaded configuration", () => {
    const { config } = ok(parseConfigText(SGE_AWS_YAML))
    const out = redactSecrets(config) as any
    expect(out.cloud["aws-res"].config.secret_access_key).toBeUndefined()
    expect(out.cloud["aws-res"].config.access_key_id).toBe("AKIAEXAMPLE")
    expect(config.cloud["aws-res"].config.secret_access_key).toBe("wJalrXUtnFEMI/K7MDENG")
    const os = redactSecrets(ok(parseConfigText(SPEC_RESOURCE_YAML)).config) as any
    expect(os.cloud["os-res"].config.password).toBeUndefined()
    expect(os.cloud["os-res"].config.username).toBe("demo")
  })

  it("passes scalars through", () => {
    expect(redactSecrets(3)).toBe(3)
    expect(redactSecrets(null)).toBe(null)
    expect(redactSecrets("password")).toBe("password")
  })
})

// ---------------------------------------------------------------- files

describe("loadConfigFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "dc-config-test-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("loads a file", () => {
    const p = join(dir, "dynamiccluster.yaml")
    writeFileSync(p, SEED_YAML)
    const { config, warnings } = ok(loadConfigFile(p))
    expect(warnings).toEqual([])
    expect(engineSettings(config).workers).toBe(2)
  })

  it("errors name the file", () => {
    const p = join(dir, "bad.yaml")
    writeFileSync(p, withQuantity("{max: three}"))
    const e = fail(loadConfigFile(p))
    expect(e.source).toBe(p)
    expect(e.message.startsWith(`${p}: invalid configuration`)).toBe(true)
    expect(e.problems).toEqual([`cloud.os-res.quantity.max: expected a non-negative integer, got "three"`])
  })

  it("a missing file is a ConfigError naming the path", () => {
    const p = join(dir, "nope.yaml")
    const e = fail(loadConfigFile(p))
    expect(e.source).toBe(p)
    expect(e.problems).toEqual([`${p}: no such file`])
    expect(e.message).toContain(p)
  })

  it("a directory or an unreadable file is a ConfigError naming the path", () => {
    const d = fail(loadConfigFile(dir))
    expect(d.problems[0]).toContain(dir)
    const p = join(dir, "secret.yaml")
    writeFileSync(p, SEED_YAML)
    chmodSync(p, 0o000)
    const r = loadConfigFile(p)
    // root can read anything; otherwise the file is unreadable
    if (Either.isLeft(r)) expect(r.left.problems).toEqual([`${p}: permission denied`])
    chmodSync(p, 0o600)
  })
})
