/**
 * Test helper: runs the real HTTP server on 127.0.0.1 with an ephemeral port,
 * with a node history sampled from the engine every second as the daemon does
 * (options.history: that one, e.g. filled beforehand).
 */
import { Effect, Exit, Scope } from "effect"
import type { EngineApi } from "../../engine/api.ts"
import { makeNodeHistory, sampleHistory } from "../history.ts"
import { type HttpAppOptions, listenHttp, makeHttpApp } from "../server.ts"

export interface RunningServer {
  readonly url: string
  readonly close: () => Promise<void>
}

export const startServer = async (engine: EngineApi, options: HttpAppOptions): Promise<RunningServer> => {
  const scope = Effect.runSync(Scope.make())
  const history = options.history ?? makeNodeHistory()
  Effect.runSync(Effect.forkIn(sampleHistory(engine, history), scope))
  const { url } = await Effect.runPromise(
    listenHttp(makeHttpApp(engine, { ...options, history }), { host: "127.0.0.1", port: 0 }).pipe(Scope.extend(scope))
  )
  return { url, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
