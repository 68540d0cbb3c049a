import { execFile } from 'node:child_process'
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
