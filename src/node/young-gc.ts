import { availableParallelism } from 'node:os'
import { setFlagsFromString } from 'node:v8'

/** `node.young_gc`: how V8 collects the young generation (where nearly every per-message object dies). */
export type YoungGcSetting = 'auto' | 'parallel' | 'single_threaded'

/** Up to this many CPUs `auto` collects on the main thread alone. */
const AUTO_SINGLE_UP_TO_CPUS = 2

/**
 * Applies `node.young_gc` to this process's V8, once, at start. V8 scavenges the young generation
 * with helper threads by default; on a machine of one or two CPUs, which the edge shares with its
 * Kafka, its clients or other edges, the helpers wait for each other and for a CPU, and the edge
 * spent 5-7 % more CPU per message with them (bench/ab.ts; docs/benchmarks.md, "Third round"). `auto`
 * therefore scavenges on the main thread up to two CPUs and in parallel above. Only the scavenger
 * is changed (`--no-parallel-scavenge`, a flag V8 reads at every collection, so setting it after
 * start takes effect); `--single-threaded-gc` as a whole cannot be set after start.
 */
export function applyYoungGc (setting: YoungGcSetting, cpus: number = availableParallelism()): { mode: 'parallel' | 'single_threaded'; cpus: number } {
  const mode = setting === 'auto' ? (cpus <= AUTO_SINGLE_UP_TO_CPUS ? 'single_threaded' : 'parallel') : setting
  if (mode === 'single_threaded') setFlagsFromString('--no-parallel-scavenge')
  return { mode, cpus }
}
