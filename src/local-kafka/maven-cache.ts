import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from '../observability/logger.js'

const MARKER = '.wharf-complete'

/** The maven-dependency-plugin version every fetch uses. */
export const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1'

/** What one cached Maven download is and how to make it. */
export interface MavenCacheOptions {
  logger: Logger
  /** the cache folder */
  dir: string
  /** what is fetched, for the logs (e.g. "the Kafka server jars") */
  what: string
  /** the version recorded in the marker file; a cache of another version is fetched again */
  version: string
  /** the POM Maven runs in (its dependencies say what to fetch) */
  pom: string
  /** fills the staging folder (which holds `pom.xml`), running Maven there with `mvn` */
  fill: (staging: string, mvn: (args: string[]) => Promise<string>) => Promise<void>
  /** more checks of a finished folder (e.g. a file that older caches lack) */
  holds?: (dir: string) => boolean
}

/** True when `dir` holds a finished download of `version` that passes `holds`. */
export function isCached (dir: string, version: string, holds: (dir: string) => boolean = () => true): boolean {
  try {
    const marker = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as { version?: string }
    return marker.version === version && holds(dir)
  } catch {
    return false
  }
}

/**
 * Makes sure a Maven download is in its cache folder and returns the folder. The first call
 * writes a POM and runs Maven; the files go into a staging folder that is renamed into place with
 * a marker file, so a half-finished download is never mistaken for a complete one and two
 * processes racing here both end up with the same files.
 */
export async function ensureMavenCache (opts: MavenCacheOptions): Promise<string> {
  const { dir, version } = opts
  if (isCached(dir, version, opts.holds)) return dir

  const staging = `${dir}.partial-${process.pid}-${Date.now()}`
  const started = Date.now()
  opts.logger.info({ version, dir }, `fetching ${opts.what} with Maven (once per version)`)
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
  try {
    await writeFile(join(staging, 'pom.xml'), opts.pom)
    await opts.fill(staging, async (args) => await runMaven(staging, args, opts.what))
    await writeFile(join(staging, MARKER), JSON.stringify({ version, at: new Date().toISOString() }) + '\n')
    if (!isCached(staging, version, opts.holds)) throw new Error(`Maven finished but ${staging} does not hold ${opts.what} ${version}`)
    if (isCached(dir, version, opts.holds)) {
      // another process finished first
      await rm(staging, { recursive: true, force: true })
      return dir
    }
    await rm(dir, { recursive: true, force: true })
    await mkdir(dirname(dir), { recursive: true })
    try {
      await rename(staging, dir)
    } catch (err) {
      if (!isCached(dir, version, opts.holds)) throw err
      await rm(staging, { recursive: true, force: true })
    }
  } catch (err) {
    await rm(staging, { recursive: true, force: true })
    throw err
  }
  opts.logger.info({ version, dir, ms: Date.now() - started }, `${opts.what} ready`)
  return dir
}

/** Runs `mvn` (batch mode, no colours) in `cwd` and returns its standard output; rejects with the tail of its output when it fails. */
async function runMaven (cwd: string, args: string[], what: string): Promise<string> {
  const output: string[] = []
  const stdout: string[] = []
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('mvn', ['-B', '-Dstyle.color=never', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.setEncoding('utf8').on('data', (d: string) => { output.push(d); stdout.push(d) })
    child.stderr.setEncoding('utf8').on('data', (d: string) => output.push(d))
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT'
        ? new Error(`Maven (mvn) is not on the PATH: it is needed once to fetch ${what} (for Kafka, or set KAFKA_BROKERS to use an existing one)`)
        : err)
    })
    child.once('close', resolve)
  })
  if (code !== 0) {
    const tail = output.join('').trimEnd().split('\n').slice(-30).join('\n')
    throw new Error(`mvn ${args.join(' ')} failed with exit code ${String(code)} in ${cwd}:\n${tail}`)
  }
  // eslint-disable-next-line no-control-regex
  return stdout.join('').replace(/\u001b\[[0-9;]*m/g, '')
}
