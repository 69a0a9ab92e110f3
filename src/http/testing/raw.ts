/** Test helper: one HTTP request with exactly these headers (fetch would add Accept-Encoding and decode): status, headers and the bytes as sent. */
import * as Http from "node:http"

export const raw = (base: string, path: string, headers: Record<string, string> = {}, method = "GET") =>
  new Promise<{ status: number; headers: Http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = Http.request(base + path, { method, headers, agent: false }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end()
  })
