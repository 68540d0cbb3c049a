import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Client, ConnectPacket } from 'aedes'
import type { TlsInfo } from '../../src/listeners/index.js'
import { applyPeerIdentity, withPeerIdentity } from '../../src/edge/peer-identity.js'

/*
 * mqtt.peer_cert_as_username / peer_cert_as_clientid (src/edge/peer-identity.ts): a verified
 * client certificate's cn, dn or md5 replaces the CONNECT's user name / client id before aedes
 * reads them; without a verified certificate the CONNECT is left alone.
 */

const VERIFIED: TlsInfo = {
  protocol: 'TLSv1.3',
  cipher: 'TLS_AES_256_GCM_SHA384',
  peerCertificate: { subject: 'CN=device-1,O=Acme,C=SE', cn: 'device-1', md5: '0123456789abcdef0123456789abcdef' }
}
const connect = (): ConnectPacket => ({ cmd: 'connect', clientId: 'chosen-id', username: 'chosen-user', protocolVersion: 4, clean: true, keepalive: 60 } as ConnectPacket)

describe('applyPeerIdentity', () => {
  it('replaces the user name and the client id by cn, dn or md5', () => {
    const p = connect()
    assert.deepEqual(applyPeerIdentity(p, VERIFIED, { username: 'cn', clientid: 'md5' }), { username: 'device-1', clientId: '0123456789abcdef0123456789abcdef' })
    assert.equal(p.username, 'device-1')
    assert.equal(p.clientId, '0123456789abcdef0123456789abcdef')
    const q = connect()
    applyPeerIdentity(q, VERIFIED, { username: 'dn', clientid: 'cn' })
    assert.deepEqual([q.username, q.clientId], ['CN=device-1,O=Acme,C=SE', 'device-1'])
  })

  it('sets a user name the client did not send', () => {
    const p = { clientId: '', username: undefined } as Pick<ConnectPacket, 'clientId' | 'username'>
    applyPeerIdentity(p, VERIFIED, { username: 'cn', clientid: 'cn' })
    assert.deepEqual(p, { clientId: 'device-1', username: 'device-1' })
  })

  it('leaves the CONNECT alone without a verified certificate, with disabled, or without a CN', () => {
    for (const [tls, as] of [
      [undefined, { username: 'cn', clientid: 'cn' }],
      [{ protocol: 'TLSv1.3', cipher: 'x' }, { username: 'dn', clientid: 'md5' }],
      [VERIFIED, { username: 'disabled', clientid: 'disabled' }],
      [{ ...VERIFIED, peerCertificate: { subject: 'O=Acme', md5: 'ab' } }, { username: 'cn', clientid: 'cn' }]
    ] as const) {
      const p = connect()
      assert.deepEqual(applyPeerIdentity(p, tls, as), {})
      assert.deepEqual([p.username, p.clientId], ['chosen-user', 'chosen-id'])
    }
  })
})

describe('withPeerIdentity', () => {
  it('applies the identity, then runs the next preConnect hook with the changed packet', () => {
    const seen: Array<string | undefined> = []
    const client = {} as Client
    const hook = withPeerIdentity((c) => (c === client ? VERIFIED : undefined), { username: 'cn', clientid: 'disabled' }, (_c, packet, done) => {
      seen.push(packet.username, packet.clientId)
      done(null, true)
    })
    let result: boolean | undefined
    hook(client, connect(), (err, ok) => { assert.equal(err, null); result = ok })
    assert.deepEqual(seen, ['device-1', 'chosen-id'])
    assert.equal(result, true)
  })

  it('is the next hook itself when both keys are disabled', () => {
    const next = (_c: Client, _p: ConnectPacket, done: (e: Error | null, ok: boolean) => void): void => done(null, true)
    assert.equal(withPeerIdentity(() => VERIFIED, { username: 'disabled', clientid: 'disabled' }, next), next)
  })
})
