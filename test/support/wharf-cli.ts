import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the built `wharf <args>` with `env` added and `input` on stdin; resolves with its exit code and output. */
export function runWharf (args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const env: Record<string, string> = { ...process.env as Record<string, string>, ...opts.env }
    delete env.WHARF_CONFIG
    const child = execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
    child.stdin?.end(opts.input ?? '')
  })
}

/** The same, rejecting when the command fails; resolves with its stdout. */
export async function wharf (args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<string> {
  const r = await runWharf(args, opts)
  if (r.code !== 0) throw new Error(`wharf ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

/**
 * Runs the built `wharf <args>` on a pseudo-terminal (util-linux `script`), answering each prompt
 * once it has been written: `answers` in order. Resolves with everything the terminal showed.
 */
export async function wharfOnTerminal (args: string[], answers: Array<[prompt: string, answer: string]>, env: Record<string, string>): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, CLI, ...args].map(a => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env as Record<string, string>, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  let screen = ''
  let next = 0
  let seen = 0
  const onData = (d: Buffer): void => {
    screen += d.toString('utf8')
    const pending = answers[next]
    if (pending === undefined) return
    const at = screen.indexOf(pending[0], seen)
    if (at < 0) return
    seen = at + pending[0].length
    next++
    child.stdin.write(`${pending[1]}\r`)
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { code, screen }
}
