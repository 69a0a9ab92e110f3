/**
 * The HTTP server of a fake cloud API (FakeEc2, FakeOpenStack): on 127.0.0.1
 * only, a free port, and a stop that also cuts open keep-alive connections
 * (a client's pool would otherwise keep close() waiting).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { Socket } from "node:net"

export interface LoopbackServer {
  /** Listens on a free port of 127.0.0.1; resolves to `http://127.0.0.1:PORT`. */
  readonly start: () => Promise<string>
  readonly stop: () => Promise<void>
}

/** `handle` answers each request; when it throws, `onError` answers (if nothing was sent yet). */
export const loopbackServer = (
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  onError: (res: ServerResponse, e: unknown) => void
): LoopbackServer => {
  const sockets = new Set<Socket>()
  const http = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) onError(res, e)
    })
  })
  http.on("connection", (s) => {
    sockets.add(s)
    s.on("close", () => sockets.delete(s))
  })
  return {
    start: async () => {
      await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()))
      return `http://127.0.0.1:${(http.address() as { port: number }).port}`
    },
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => http.close(() => r()))
    }
  }
}
