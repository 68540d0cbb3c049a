import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'

/** All of stdin, without one trailing newline (`printf 'pw\n' | wharf users add u --password-stdin`). */
export async function passwordFromStdin (): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  const all = Buffer.concat(chunks).toString('utf8')
  return Buffer.from(all.replace(/\r?\n$/, ''), 'utf8')
}

/** Asks on the terminal without echoing what is typed. */
async function ask (prompt: string): Promise<string> {
  let muted = false
  const output = new Writable({
    write (chunk, _enc, done) {
      if (!muted) process.stderr.write(chunk)
      done()
    }
  })
  const rl = createInterface({ input: process.stdin, output, terminal: true })
  try {
    process.stderr.write(prompt)
    muted = true
    return await new Promise<string>(resolve => rl.question('', resolve))
  } finally {
    rl.close()
    process.stderr.write('\n')
  }
}

/**
 * The password of `--password`, `--password-stdin`, or typed twice at a terminal prompt; a string
 * saying why when there is none (no terminal, empty, the two differ).
 */
export async function readPassword (opts: { password?: string; passwordStdin?: boolean }): Promise<Buffer | string> {
  if (opts.password !== undefined && opts.passwordStdin === true) return 'give --password or --password-stdin, not both'
  let pw: Buffer
  if (opts.password !== undefined) {
    pw = Buffer.from(opts.password, 'utf8')
  } else if (opts.passwordStdin === true) {
    pw = await passwordFromStdin()
  } else {
    if (process.stdin.isTTY !== true) return 'no terminal to ask for the password: use --password-stdin'
    const first = await ask('Password: ')
    const again = await ask('Password again: ')
    if (first !== again) return 'the passwords differ'
    pw = Buffer.from(first, 'utf8')
  }
  if (pw.length === 0) return 'the password is empty'
  return pw
}
