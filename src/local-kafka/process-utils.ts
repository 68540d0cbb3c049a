import { readFileSync, openSync, readSync, fstatSync, closeSync } from 'node:fs'

/**
 * True when `pid` is a live process (not a zombie). With `marker`, the process's command line
 * must also contain it: a pid from an old state file may belong to another program by now.
 * Without /proc (not Linux) it falls back to `kill(pid, 0)`.
 */
export function isProcessAlive (pid: number | undefined, marker?: string): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch {
    // ESRCH: gone; EPERM: it exists but belongs to another user, so it is not one of ours
    return false
  }
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return process.platform !== 'linux'
  }
  // "pid (comm) S ..." where comm may contain spaces and parentheses: the state follows the last ')'
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  if (state === 'Z' || state === 'X') return false
  if (marker === undefined) return true
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(marker)
  } catch {
    return false
  }
}

/**
 * Send a signal to the process group led by `pid` (the launcher starts every node detached, as
 * a group leader), falling back to the process alone. Returns false when nothing was signalled.
 */
export function signalProcess (pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    try {
      process.kill(pid, signal)
      return true
    } catch {
      return false
    }
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** Resolves true once the process is gone, false when it is still alive after timeoutMs. */
export async function waitForExit (pid: number, timeoutMs: number, marker?: string): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (isProcessAlive(pid, marker)) {
    if (Date.now() >= deadline) return false
    await sleep(100)
  }
  return true
}

/** SIGTERM, wait up to graceMs, then SIGKILL and wait for the exit. */
export async function terminate (pid: number, graceMs: number, marker?: string): Promise<'exited' | 'killed' | 'gone'> {
  if (!isProcessAlive(pid, marker)) return 'gone'
  signalProcess(pid, 'SIGTERM')
  if (await waitForExit(pid, graceMs, marker)) return 'exited'
  signalProcess(pid, 'SIGKILL')
  await waitForExit(pid, 10_000, marker)
  return 'killed'
}

/** The last `lines` lines of a (possibly large, possibly missing) text file. */
export function tailFile (file: string, lines = 30, maxBytes = 64 * 1024): string {
  let fd: number | undefined
  try {
    fd = openSync(file, 'r')
    const size = fstatSync(fd).size
    const length = Math.min(size, maxBytes)
    const buffer = Buffer.alloc(length)
    readSync(fd, buffer, 0, length, size - length)
    const text = buffer.toString('utf8').trimEnd()
    return text.split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
