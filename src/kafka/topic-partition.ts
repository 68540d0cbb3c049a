/** Low and high watermark of one partition, keyed "topic:partition". */
export type Watermarks = Map<string, { low: bigint; high: bigint }>

/** The key of one partition in maps: "topic:partition". */
export function tpKey (topic: string, partition: number): string {
  return `${topic}:${partition}`
}

export function splitTpKey (key: string): { topic: string; partition: number } {
  const cut = key.lastIndexOf(':')
  return { topic: key.slice(0, cut), partition: Number(key.slice(cut + 1)) }
}
