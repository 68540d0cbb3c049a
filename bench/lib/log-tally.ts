/**
 * Counts a node's log lines as they come: pino JSON lines by level and message, and anything else
 * the process writes (a stack trace, a Node.js warning), which a healthy node never does.
 */
export class LogTally {
  lines = 0
  readonly errors = new Map<string, number>()
  readonly warnings = new Map<string, number>()
  readonly nonJson: string[] = []
  nonJsonCount = 0

  readonly add = (line: string): void => {
    this.lines++
    let entry: { level?: number; msg?: string; err?: unknown } | undefined
    try { entry = JSON.parse(line) as typeof entry } catch { entry = undefined }
    if (entry === undefined || typeof entry !== 'object' || entry === null || typeof entry.level !== 'number') {
      if (line.trim() === '') return
      this.nonJsonCount++
      if (this.nonJson.length < 20) this.nonJson.push(line)
      return
    }
    const key = `${entry.msg ?? '?'}${errText(entry.err)}`
    if (entry.level >= 50) this.errors.set(key, (this.errors.get(key) ?? 0) + 1)
    else if (entry.level >= 40) this.warnings.set(key, (this.warnings.get(key) ?? 0) + 1)
  }

  get errorCount (): number { return [...this.errors.values()].reduce((a, b) => a + b, 0) + this.nonJsonCount }
}

function errText (err: unknown): string {
  if (typeof err === 'string') return ` (${err})`
  if (typeof err === 'object' && err !== null && 'message' in err) return ` (${String((err as { message: unknown }).message)})`
  return ''
}
