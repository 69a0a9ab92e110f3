/**
 * The Cloud contract against the simulated cloud (SimWorld), the OpenStack
 * layer (fake Keystone/Nova) and the EC2 layer, on-demand and spot (fake
 * EC2). All traffic stays on 127.0.0.1.
 */
import { Duration, Effect, Either, Exit, Scope } from "effect"
import type { ResourceConfig } from "../../model/config.ts"
import { simCloudService } from "../../sim/layers.ts"
import { kitResource } from "../../sim/kit.ts"
import { makeRng } from "../../sim/random.ts"
import { SimWorld } from "../../sim/world.ts"
import { awsFactory } from "../ec2/cloud.ts"
import { FakeEc2 } from "../ec2/testing/fakeEc2.ts"
import { openstackFactory } from "../openstack/cloud.ts"
import { FakeOpenStack } from "../openstack/testing/fakeOpenStack.ts"
import { cloudContract, type CloudHarness, type HarnessOptions } from "./cloud-contract.ts"

process.env.AWS_EC2_METADATA_DISABLED = "true"

const resourceConfig = (type: string, config: Record<string, unknown>): ResourceConfig => ({
  type: type as ResourceConfig["type"],
  priority: 1,
  quantity: { min: 0, max: 5 },
  reservation: { queue: null, account: null, property: null },
  config
})

// ---------------------------------------------------------------- simulated

const simHarness = async (o: HarnessOptions): Promise<CloudHarness> => {
  const world = new SimWorld(
    {
      physical: [],
      resources: [
        kitResource({ name: "sim", max: 5, cores: 4, quota: o.quota ?? null, bootTime: { type: "constant", value: 60 } }),
        // another resource whose prefix starts like ours: its instances must not show up
        { ...kitResource({ name: "simx", max: 5 }), prefix: "simx" }
      ],
      jobs: [],
      faults: [],
      schedulerCycle: 10,
      drain: 0,
      maxTime: null
    },
    makeRng(7),
    () => {}
  )
  const settle = async () => {
    const until = world.now + 600
    while (world.nextEventTime() <= until) world.processEventsAt(world.nextEventTime())
    world.now = until
  }
  return {
    cloud: simCloudService(world, 1_700_000_000),
    resource: "sim",
    prefix: "sim",
    cores: 4,
    settle,
    addForeign: async () => {
      world.boot("simx")
    },
    close: async () => {}
  }
}

cloudContract("simulated cloud (SimWorld)", simHarness)

// ---------------------------------------------------------------- OpenStack

const openstackHarness = async (o: HarnessOptions): Promise<CloudHarness> => {
  const fake = await new FakeOpenStack({ autoAdvance: false, ...(o.quota !== undefined ? { quota: o.quota } : {}) }).start()
  const scope = Effect.runSync(Scope.make())
  const made = await Effect.runPromise(
    Effect.either(
      openstackFactory(
        "os",
        resourceConfig("openstack", {
          auth_url: fake.authUrl,
          username: "demo",
          password: "secret",
          project: "demo",
          image_uuid: fake.images[0],
          flavor: "m1.medium",
          instance_name_prefix: "wn",
          api_timeout: 5
        }),
        { reverseDns: fake.reverseDns, retryDelay: Duration.millis(10) }
      )
    ).pipe(Scope.extend(scope))
  )
  if (Either.isLeft(made)) throw new Error(made.left.message)
  return {
    cloud: made.right,
    resource: "os",
    prefix: "wn",
    cores: 4,
    settle: async () => fake.settle(),
    addForeign: async (name) => void fake.addForeign(name),
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await fake.stop()
    }
  }
}

cloudContract("OpenStack layer (fake Keystone/Nova)", openstackHarness)

// ---------------------------------------------------------------- EC2

const ec2Harness =
  (extra: Record<string, unknown>) =>
  async (o: HarnessOptions): Promise<CloudHarness> => {
    const fake = await new FakeEc2({ autoAdvance: false }).start()
    if (o.quota !== undefined) fake.instanceLimit = o.quota
    const scope = Effect.runSync(Scope.make())
    const made = await Effect.runPromise(
      Effect.either(
        awsFactory(
          "aws",
          resourceConfig("aws", {
            access_key_id: "AKIDFAKE",
            secret_access_key: "fake",
            region_name: "eu-west-1",
            image_id: fake.images[0],
            instance_type: "c5.4xlarge",
            instance_name_prefix: "awswn",
            endpoint_url: fake.url,
            max_attempts: 1,
            api_timeout: 5,
            ...extra
          }),
          { reverseDns: fake.reverseDns }
        )
      ).pipe(Scope.extend(scope))
    )
    if (Either.isLeft(made)) throw new Error(made.left.message)
    return {
      cloud: made.right,
      resource: "aws",
      prefix: "awswn",
      cores: 16,
      settle: async () => fake.settle(),
      addForeign: async (name) => void fake.addForeign(name),
      close: async () => {
        await Effect.runPromise(Scope.close(scope, Exit.void))
        await fake.stop()
      }
    }
  }

cloudContract("EC2 layer, on-demand (fake EC2)", ec2Harness({}))
cloudContract("EC2 layer, spot (fake EC2)", ec2Harness({ spot_bid: "0.12", spot_timeout: 900 }))
