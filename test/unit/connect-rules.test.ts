import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connectMalformed, connectRuleBreach } from '../../src/edge/connect-rules.js'

const limits = { maxClientIdLength: 10, maxUsernameLength: 5, maxQos: 2 as const }
const connect = (clientId: string, clean: boolean, username?: string, protocolVersion: 3 | 4 | 5 = 4) => ({ clientId, clean, username, protocolVersion })

describe('CONNECT rules aedes does not apply', () => {
  it('zero-length client id: refused (0x02) with clean session 0 and in MQTT 3.1, allowed with clean session 1', () => {
    assert.deepEqual(connectRuleBreach(connect('', false), limits), { returnCode: 2, reason: 'empty_client_id_with_persistent_session' })
    assert.deepEqual(connectRuleBreach(connect('', true, undefined, 3), limits), { returnCode: 2, reason: 'empty_client_id_mqtt_3_1' })
    assert.equal(connectRuleBreach(connect('', true), limits), undefined)
  })

  it('MQTT 5: a zero-length client id is assigned one whatever Clean Start says [MQTT-3.1.3-6]', () => {
    assert.equal(connectRuleBreach(connect('', false, undefined, 5), limits), undefined)
    assert.equal(connectRuleBreach(connect('', true, undefined, 5), limits), undefined)
  })

  it('client id over mqtt.max_client_id_length: 0x02; user name over mqtt.max_username_length: 0x04', () => {
    assert.equal(connectRuleBreach(connect('x'.repeat(10), false, 'y'.repeat(5)), limits), undefined)
    assert.deepEqual(connectRuleBreach(connect('x'.repeat(11), true), limits), { returnCode: 2, reason: 'client_id_too_long' })
    assert.deepEqual(connectRuleBreach(connect('x', true, 'y'.repeat(6)), limits), { returnCode: 4, reason: 'username_too_long' })
  })

  it('a will QoS above mqtt.max_qos_allowed refuses the CONNECT [MQTT-3.2.2-12] (MQTT 5: 0x9B; 3.1.1: 5)', () => {
    const will = (qos: 0 | 1 | 2) => ({ topic: 'w/x', payload: Buffer.from('x'), qos, retain: false })
    const atMost1 = { ...limits, maxQos: 1 as const }
    assert.deepEqual(connectRuleBreach({ ...connect('x', true, undefined, 5), will: will(2) }, atMost1), { returnCode: 5, reason: 'will_qos_not_supported' })
    assert.deepEqual(connectRuleBreach({ ...connect('x', true), will: will(2) }, atMost1), { returnCode: 5, reason: 'will_qos_not_supported' })
    assert.equal(connectRuleBreach({ ...connect('x', true, undefined, 5), will: will(1) }, atMost1), undefined)
    assert.equal(connectRuleBreach({ ...connect('x', true, undefined, 5), will: will(2) }, limits), undefined)
  })
})

describe('malformed CONNECTs mqtt-packet accepts', () => {
  const will = (topic: string, qos: number) => ({ topic, payload: Buffer.from('x'), qos: qos as 0, retain: false })
  it('will QoS 3, an empty or wildcard will topic, a password without a user name', () => {
    assert.equal(connectMalformed({ will: will('w/x', 3) }), 'will QoS 3')
    assert.equal(connectMalformed({ will: will('w/#', 1) }), 'will topic empty or with a wildcard')
    assert.equal(connectMalformed({ will: will('', 0) }), 'will topic empty or with a wildcard')
    assert.equal(connectMalformed({ password: Buffer.from('p') }), 'password without a user name')
    assert.equal(connectMalformed({ password: Buffer.from('p'), protocolVersion: 4 }), 'password without a user name')
  })
  it('MQTT 5 allows a password without a user name (§3.1.2.9)', () => {
    assert.equal(connectMalformed({ password: Buffer.from('p'), protocolVersion: 5 }), undefined)
  })
  it('well-formed CONNECTs pass', () => {
    assert.equal(connectMalformed({}), undefined)
    assert.equal(connectMalformed({ will: will('w/x', 2), username: 'u', password: Buffer.from('p') }), undefined)
    assert.equal(connectMalformed({ username: 'u' }), undefined)
  })
})
