import { setTimeout as delay } from 'node:timers/promises'

/** Resolves after `ms` milliseconds. */
export function sleep (ms: number): Promise<void> {
  return delay(ms, undefined)
}

/**
 * Waits for `work`, at most `ms`: resolves true when it settled in time (fulfilled or rejected; a
 * rejection is the caller's to observe on `work` itself), false when the time ran out first. The
 * timer is cleared as soon as `work` settles.
 */
export async function settlesWithin (work: Promise<unknown>, ms: number): Promise<boolean> {
  const ac = new AbortController()
  const timedOut = delay(ms, false, { signal: ac.signal }).catch(() => false)
  try {
    return await Promise.race([work.then(() => true, () => true), timedOut])
  } finally {
    ac.abort()
  }
}

/** The promise of a callback-style operation that calls `done` once: with no error (fulfilled) or with one. */
export function promiseOf (run: (done: (err: Error | undefined) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    run(err => { if (err === undefined) resolve(); else reject(err) })
  })
}
