import { spawn, type ChildProcess } from 'node:child_process'

export interface CommandResult {
  code: number | null
  stdout: string
  stderr: string
}

/** A running command whose output is collected; `done` resolves when it exits. */
export interface RunningCommand {
  child: ChildProcess
  done: Promise<CommandResult>
}

/** Starts `command` (no shell); output is collected as text. */
export function startCommand (command: string, args: string[]): RunningCommand {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const done = new Promise<CommandResult>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
  return { child, done }
}

/** Runs `command` to its end. */
export function runCommand (command: string, args: string[]): Promise<CommandResult> {
  return startCommand(command, args).done
}
