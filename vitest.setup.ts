/**
 * Every test starts on a fresh turn of the event loop. Many tests run the
 * simulator synchronously; a file of them would otherwise keep the worker
 * from reading vitest's RPC answers for the whole file, and past 60 s vitest
 * fails the run with "[vitest-worker]: Timeout calling onTaskUpdate"
 * although every test passed (vitest-dev/vitest#6479, #8164).
 */
import { beforeEach } from "vitest"

beforeEach(() => new Promise<void>((resolve) => setImmediate(resolve)))
