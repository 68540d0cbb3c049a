import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

/*
 * A test PKI made with the openssl command line: a CA, server certificates for 127.0.0.1 /
 * localhost, client certificates with a chosen subject. Files are PEM in `dir`.
 */

export interface CertFiles {
  cert: string
  key: string
}

function openssl (args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** A self-signed CA: `<dir>/<name>.pem` and `<dir>/<name>.key`. */
export function makeCa (dir: string, name = 'ca', subject = '/CN=Wharf Test CA'): CertFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) }
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', subject, '-keyout', files.key, '-out', files.cert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return files
}

/**
 * A certificate signed by `ca`: `subject` like `/C=SE/O=Acme/CN=device-1`; `server` adds the
 * subjectAltNames a client checks (127.0.0.1, ::1, localhost).
 */
export function makeCert (dir: string, name: string, ca: CertFiles, subject: string, server = false): CertFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) }
  const csr = join(dir, `${name}.csr`)
  const ext = join(dir, `${name}.ext`)
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', subject, '-keyout', files.key, '-out', csr])
  const extensions = server
    ? 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
    : 'extendedKeyUsage=clientAuth\n'
  writeFileSync(ext, extensions)
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', files.cert, '-extfile', ext])
  return files
}

/** `openssl x509 -noout <flag>` of a certificate, e.g. `-fingerprint -md5` or `-subject -nameopt RFC2253`. */
export function opensslX509 (cert: string, ...flags: string[]): string {
  return execFileSync('openssl', ['x509', '-in', cert, '-noout', ...flags], { encoding: 'utf8' }).trim()
}
