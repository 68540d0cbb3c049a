import { randomBytes } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** `<dir>/state.json`: what a later `attach`, `status` or `stop` needs to find the cluster. */
export interface LocalKafkaState {
  version: string
  nodes: 1 | 3
  /** client (PLAINTEXT) port of node i at index i-1; its controller port is the next one */
  ports: number[]
  /** pid of node i at index i-1; null while that node is stopped */
  pids: Array<number | null>
  clusterId: string
  /** the jar folder the nodes were started from */
  jarsDir?: string
  /** heap of each node, MiB */
  heapMb?: number
  /** the nodes' garbage collector (java.ts); serial when absent */
  gc?: 'serial' | 'g1'
}

export function statePath (dir: string): string {
  return join(dir, 'state.json')
}

export async function readState (dir: string): Promise<LocalKafkaState | undefined> {
  let text: string
  try {
    text = await readFile(statePath(dir), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const raw = JSON.parse(text) as Partial<LocalKafkaState>
  if ((raw.nodes !== 1 && raw.nodes !== 3) || !Array.isArray(raw.ports) || typeof raw.clusterId !== 'string') {
    throw new Error(`${statePath(dir)} is not a Wharf local Kafka state file`)
  }
  const pids = Array.isArray(raw.pids) ? raw.pids : []
  return {
    version: String(raw.version),
    nodes: raw.nodes,
    ports: raw.ports,
    pids: raw.ports.map((_, i) => typeof pids[i] === 'number' ? pids[i] : null),
    clusterId: raw.clusterId,
    ...(typeof raw.jarsDir === 'string' ? { jarsDir: raw.jarsDir } : {}),
    ...(typeof raw.heapMb === 'number' ? { heapMb: raw.heapMb } : {}),
    ...(raw.gc === 'serial' || raw.gc === 'g1' ? { gc: raw.gc } : {})
  }
}

/** Written to a temporary file and renamed, so a reader never sees half a file. */
export async function writeState (dir: string, state: LocalKafkaState): Promise<void> {
  const file = statePath(dir)
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n')
  await rename(tmp, file)
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (22 characters). */
export function newClusterId (): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    // Kafka's own generator avoids a leading '-' (it would read as a command-line option)
    if (!id.startsWith('-')) return id
  }
}

/** The cluster id of this folder: kept in `<dir>/cluster-id` so it survives a lost state file. */
export async function clusterIdFor (dir: string): Promise<string> {
  const file = join(dir, 'cluster-id')
  try {
    const id = (await readFile(file, 'utf8')).trim()
    if (/^[A-Za-z0-9_-]{22}$/.test(id)) return id
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const id = newClusterId()
  await writeFile(file, id + '\n')
  return id
}
