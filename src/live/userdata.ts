/**
 * User data for new VMs (SPEC §2): a file whose `{{ minion_id }}` (the
 * classic Jinja variable, with or without blanks inside the braces) becomes
 * the new instance's name. The file must exist when the scaler starts (a
 * missing file is a configuration error then, not a surprise at the first
 * boot); it is read again at every boot so an administrator can edit it
 * while the scaler runs.
 */
import { Data, Effect } from "effect"
import { accessSync, constants, statSync } from "node:fs"
import { readFile } from "node:fs/promises"

export class UserDataError extends Data.TaggedError("UserDataError")<{
  readonly path: string
  readonly message: string
}> {}

const VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g

/**
 * The template with every `{{ minion_id }}` replaced by the instance name and
 * every `{{ key }}` of `extra` by its value (a caller's values for one boot,
 * e.g. slurm-resume's `slurm_node`); other `{{ ... }}` are left as they are.
 * Values are inserted literally.
 */
export const renderUserData = (template: string, instanceName: string, extra: Readonly<Record<string, string>> = {}): string =>
  template.replace(VARIABLE, (whole, key: string) =>
    key === "minion_id" ? instanceName : Object.prototype.hasOwnProperty.call(extra, key) ? extra[key] : whole
  )

const why = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException)?.code
  if (code === "ENOENT") return "no such file"
  if (code === "EACCES" || code === "EPERM") return "permission denied"
  if (code === "EISDIR") return "is a directory, not a file"
  return e instanceof Error ? e.message : String(e)
}

/** Start-up check: the file exists, is a regular file and is readable. Returns a sentence, or null when fine. */
export const checkUserDataFile = (path: string): string | null => {
  try {
    if (!statSync(path).isFile()) return `${path}: is not a regular file`
    accessSync(path, constants.R_OK)
    return null
  } catch (e) {
    return `${path}: ${why(e)}`
  }
}

export interface UserData {
  /** The file, or null when none is configured. */
  readonly path: string | null
  /** The rendered user data for one new instance ("" when no file is configured), with the boot's extra values. */
  readonly render: (instanceName: string, extra?: Readonly<Record<string, string>>) => Effect.Effect<string, UserDataError>
}

export const noUserData: UserData = { path: null, render: () => Effect.succeed("") }

/**
 * User data from a file (checked now, read at every boot). Fails at once
 * when the file is not there.
 */
export const makeUserData = (path: string | null | undefined): Effect.Effect<UserData, UserDataError> =>
  Effect.suspend(() => {
    if (path === null || path === undefined || path === "") return Effect.succeed(noUserData)
    const problem = checkUserDataFile(path)
    if (problem !== null) return Effect.fail(new UserDataError({ path, message: problem }))
    return Effect.succeed<UserData>({
      path,
      render: (name, extra) =>
        Effect.tryPromise({
          try: () => readFile(path, "utf8"),
          catch: (e) => new UserDataError({ path, message: `cannot read the user-data file ${path}: ${why(e)}` })
        }).pipe(Effect.map((t) => renderUserData(t, name, extra)))
    })
  })

/** Base64 as both clouds want user data on the wire. */
export const base64 = (s: string): string => Buffer.from(s, "utf8").toString("base64")
