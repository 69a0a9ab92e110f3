/**
 * The parse worker's thread (see parse-worker.ts): gathers the slices of each
 * request's text, runs the parser it names and posts back the result as
 * plain data, in batches.
 */
import { parentPort } from "node:worker_threads"
import { workerHandler, type WorkerRequest } from "./parse-worker.ts"

const handle = workerHandler((r) => parentPort?.postMessage(r))
parentPort?.on("message", (m: WorkerRequest) => handle(m))
