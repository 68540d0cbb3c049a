import { createHash, createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext, type SecureContextOptions, type TlsOptions } from 'node:tls'
import type { SslOptions } from '../config/listeners-schema.js'
import { ConfigError } from '../config/errors.js'
import { rfc4514Subject } from './peer-cert.js'

/** The secure-context part of a TLS listener, read from its files and checked. */
export interface LoadedTls {
  /** Contents for tls.createServer / server.setSecureContext. */
  context: SecureContextOptions
  /** A digest of everything read: unchanged files give the same digest (no needless reload). */
  digest: string
  /** The server certificate's subject and end of validity, for the log. */
  subject: string
  validTo: string
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

function readPem (key: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new ConfigError(key, 'a readable PEM file', `cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`)
  }
}

function certificate (key: string, path: string, pem: Buffer | string): X509Certificate {
  try {
    return new X509Certificate(pem)
  } catch {
    throw new ConfigError(key, 'a PEM certificate', `${path} holds no readable PEM certificate`)
  }
}

/**
 * Reads and checks `certfile`, `keyfile` (with `password`) and `cacertfile`; `keyPrefix` is the
 * options' key path (`listeners.ssl.default.ssl_options`). Throws a ConfigError naming the key
 * of the file (or setting) at fault: unreadable, not PEM, key not matching the certificate,
 * unknown ciphers. Never puts the password or key material in a message.
 */
export function loadTls (keyPrefix: string, o: SslOptions): LoadedTls {
  const at = (k: string): string => `${keyPrefix}.${k}`
  const cert = readPem(at('certfile'), o.certfile)
  const key = readPem(at('keyfile'), o.keyfile)
  const ca = o.cacertfile === undefined ? undefined : readPem(at('cacertfile'), o.cacertfile)

  const leaf = certificate(at('certfile'), o.certfile, cert)
  let privateKey
  try {
    privateKey = createPrivateKey(o.password === undefined ? { key } : { key, passphrase: o.password })
  } catch {
    const why = o.password === undefined ? 'no readable PEM private key (or it is encrypted and no password is set)' : 'no PEM private key that the password opens'
    throw new ConfigError(at('keyfile'), 'a PEM private key', `${o.keyfile} holds ${why}`)
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(at('keyfile'), 'the private key of certfile', `${o.keyfile} is not the key of the certificate in ${o.certfile}`)
  }
  if (ca !== undefined) {
    const blocks = ca.toString('latin1').match(PEM_CERT) ?? []
    if (blocks.length === 0) throw new ConfigError(at('cacertfile'), 'PEM CA certificates', `${o.cacertfile ?? ''} holds no PEM certificate`)
    for (const block of blocks) certificate(at('cacertfile'), o.cacertfile ?? '', block)
  }

  const versions = o.versions.map((v): 'TLSv1.2' | 'TLSv1.3' => (v === 'tlsv1.2' ? 'TLSv1.2' : 'TLSv1.3')).sort()
  const context: SecureContextOptions = {
    cert,
    key,
    ...(o.password === undefined ? {} : { passphrase: o.password }),
    ...(ca === undefined ? {} : { ca }),
    minVersion: versions[0],
    maxVersion: versions[versions.length - 1],
    honorCipherOrder: o.honor_cipher_order,
    ...(o.ciphers === undefined ? {} : { ciphers: o.ciphers.join(':') })
  }
  try {
    createSecureContext(context)
  } catch (err) {
    const k = o.ciphers === undefined ? 'certfile' : 'ciphers'
    throw new ConfigError(at(k), 'a usable TLS setting', `TLS refuses it: ${(err as Error).message}`)
  }
  const digest = createHash('sha256').update(cert).update('\0').update(key).update('\0').update(ca ?? '').digest('hex')
  return { context, digest, subject: rfc4514Subject(leaf), validTo: leaf.validTo }
}

/**
 * The server options of a TLS listener: the context plus client-certificate verification.
 * `verify_peer` asks for a certificate; `fail_if_no_peer_cert` makes a missing or bad one fail
 * the handshake. Without it the handshake lets any certificate through and the listener refuses
 * a presented one that did not verify (see listener.ts): EMQX's behaviour.
 */
export function tlsServerOptions (loaded: LoadedTls, o: SslOptions): TlsOptions {
  const verify = o.verify === 'verify_peer'
  return {
    ...loaded.context,
    requestCert: verify,
    rejectUnauthorized: verify && o.fail_if_no_peer_cert,
    handshakeTimeout: o.handshake_timeout
  }
}
