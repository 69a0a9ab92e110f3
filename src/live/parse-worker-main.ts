/**
 * The parse worker's thread (see parse-worker.ts): runs the parser named in
 * each request on its text and posts back the result as plain data.
 */
import { parentPort } from "node:worker_threads"
import { runParser } from "./parse-worker.ts"

parentPort?.on("message", (m: { readonly id: number; readonly parser: string; readonly text: unknown }) => {
  parentPort?.postMessage(runParser(m.id, m.parser, m.text))
})
