import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IHeaders } from 'kafkajs'
import { PROPERTY_HEADER, propertiesFromHeaders, propertyHeaders } from '../../src/mapping/property-headers.js'
import { deliveryProperties, messagePropertiesOf } from '../../src/protocol/message-properties.js'

describe('MQTT 5 message properties', () => {
  it('a PUBLISH keeps the message\'s properties, not the hop\'s (topic alias, subscription identifier)', () => {
    assert.equal(messagePropertiesOf(undefined), undefined)
    assert.equal(messagePropertiesOf({ topicAlias: 3 } as never), undefined)
    assert.deepEqual(messagePropertiesOf({ contentType: 'text/plain', subscriptionIdentifier: 4, messageExpiryInterval: 60 } as never),
      { contentType: 'text/plain', messageExpiryInterval: 60 })
  })

  it('headers: written under the documented names and read back, user properties repeated per value', () => {
    const headers: IHeaders = {}
    propertyHeaders({
      userProperties: { site: 'north', tag: ['a', 'b'] },
      contentType: 'application/json',
      payloadFormatIndicator: true,
      responseTopic: 'replies/1',
      correlationData: Buffer.from([0, 1, 2]),
      messageExpiryInterval: 30
    }, headers)
    assert.deepEqual(headers, {
      'mqtt.user.site': 'north',
      'mqtt.user.tag': ['a', 'b'],
      [PROPERTY_HEADER.contentType]: 'application/json',
      [PROPERTY_HEADER.payloadFormat]: '1',
      [PROPERTY_HEADER.responseTopic]: 'replies/1',
      [PROPERTY_HEADER.correlationData]: Buffer.from([0, 1, 2]),
      [PROPERTY_HEADER.messageExpiry]: '30'
    })
    // as a Kafka consumer sees them: Buffers
    const read: IHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(x => Buffer.from(x)) : Buffer.from(v as string)]))
    read['mqtt.topic'] = Buffer.from('t')
    assert.deepEqual(propertiesFromHeaders(read, 1_000_000), {
      userProperties: { site: 'north', tag: ['a', 'b'] },
      contentType: 'application/json',
      payloadFormatIndicator: true,
      responseTopic: 'replies/1',
      correlationData: Buffer.from([0, 1, 2]),
      messageExpiryInterval: 30,
      expiresAt: 1_030_000
    })
    assert.equal(propertiesFromHeaders({ 'mqtt.topic': Buffer.from('t'), 'mqtt.qos': Buffer.from('1') }, 0), undefined)
    assert.equal(propertiesFromHeaders({ [PROPERTY_HEADER.messageExpiry]: Buffer.from('-1') }, 0), undefined, 'an invalid interval is ignored')
  })

  it('delivery: the remaining interval is sent; an expired message is not delivered unless its delivery had started', () => {
    const p = { contentType: 'x', messageExpiryInterval: 60, expiresAt: 100_000 }
    assert.deepEqual(deliveryProperties(p, 41_000), { contentType: 'x', messageExpiryInterval: 59 })
    assert.deepEqual(deliveryProperties(p, 99_500), { contentType: 'x', messageExpiryInterval: 1 })
    assert.equal(deliveryProperties(p, 100_000), 'expired')
    assert.deepEqual(deliveryProperties(p, 200_000, true), { contentType: 'x' })
    assert.deepEqual(deliveryProperties({ messageExpiryInterval: 5 }, 0), { messageExpiryInterval: 5 }, 'not read from Kafka yet: the whole interval')
    assert.equal(deliveryProperties(undefined, 0), undefined)
  })
})
