/**
 * Output files of the commands (`simulate --events`, `--report`): whether a
 * path can be written, checked before a run starts so a typo does not cost
 * the whole simulation, and write failures in words rather than Node's
 * "ENOENT: no such file or directory, open '...'".
 */
import { accessSync, constants, statSync } from "node:fs"
import { dirname, resolve } from "node:path"

const codeOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string" ? (e as { code: string }).code : undefined

const statOrNull = (p: string) => {
  try {
    return statSync(p)
  } catch {
    return null
  }
}

/**
 * Why `path` cannot be written as an output file (one clause, naming the
 * directory at fault), or null when it looks writable.
 */
export const outputProblem = (path: string): string | null => {
  const full = resolve(path)
  const dir = dirname(full)
  // the nearest existing ancestor says whether the directory is missing or a file is in the way
  let up = dir
  let d = statOrNull(up)
  while (d === null && dirname(up) !== up) {
    up = dirname(up)
    d = statOrNull(up)
  }
  if (d !== null && !d.isDirectory()) return `${up} is not a directory`
  if (up !== dir || d === null) return `the directory ${dir} does not exist (create it first)`
  const f = statOrNull(full)
  if (f !== null && f.isDirectory()) return "it is a directory (give a file name)"
  try {
    accessSync(f !== null ? full : dir, constants.W_OK)
  } catch {
    return f !== null ? "no permission to overwrite it" : `no permission to create files in ${dir}`
  }
  return null
}

/** A failed write of `path` in words (the reason, without Node's code and call). */
export const writeFailure = (path: string, e: unknown): string => {
  const found = outputProblem(path)
  if (found !== null) return found
  switch (codeOf(e)) {
    case "ENOENT":
      return `the directory ${dirname(resolve(path))} does not exist (create it first)`
    case "EACCES":
    case "EPERM":
      return "permission denied"
    case "EISDIR":
      return "it is a directory (give a file name)"
    case "ENOTDIR":
      return "a part of the path is not a directory"
    case "EROFS":
      return "the file system is read-only"
    case "ENOSPC":
      return "no space left on the device"
    default:
      return e instanceof Error ? e.message : String(e)
  }
}

/** `--option: cannot write PATH: reason` (one line). */
export const cannotWrite = (option: string, path: string, reason: string): string => `${option}: cannot write ${path}: ${reason}`
