import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** PEM files of a throwaway CA, a server certificate for 127.0.0.1 and a client certificate. */
export interface TestCertificates {
  dir: string
  caFile: string
  ca: string
  serverKey: string
  serverCert: string
  clientKeyFile: string
  clientCertFile: string
}

async function openssl (dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir })
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT') throw new Error('openssl is not on the PATH: the TLS tests need it (apt-get install openssl)')
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`)
  }
}

/** A key (PKCS#8 PEM, unencrypted) and a certificate signed by the CA in `dir`, valid for two days. */
async function issue (dir: string, name: string, subject: string, extensions: string[]): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), extensions.join('\n') + '\n')
  await openssl(dir, ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject])
  await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-out', `${name}.pem`, '-extfile', `${name}.ext`])
}

/**
 * Makes a CA and two certificates with the `openssl` command in `dir`: the server's names
 * 127.0.0.1 and localhost (what a TLS client checks when it dials 127.0.0.1), the client's
 * is for client authentication (mutual TLS).
 */
export async function makeTestCertificates (dir: string): Promise<TestCertificates> {
  await openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-sha256', '-subj', '/CN=Wharf test CA'])
  await issue(dir, 'server', '/CN=127.0.0.1', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth'])
  await issue(dir, 'client', '/CN=wharf-edge', ['extendedKeyUsage=clientAuth'])
  const text = async (file: string): Promise<string> => await readFile(join(dir, file), 'utf8')
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    ca: await text('ca.pem'),
    serverKey: await text('server.key'),
    serverCert: await text('server.pem'),
    clientKeyFile: join(dir, 'client.key'),
    clientCertFile: join(dir, 'client.pem')
  }
}
