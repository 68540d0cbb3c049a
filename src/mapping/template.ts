import type { MqttMessage } from '../protocol/message.js'

/*
 * Templates of mapping rules, compiled once at start into a list of parts so the hot path only
 * concatenates strings. Key templates (MQTT -> Kafka): `${topic}`, `${clientid}`, `${username}`,
 * `{N}` (the N-th MQTT topic level, 1-based). MQTT topic templates (Kafka -> MQTT): `${key}`.
 */

export const KEY_PLACEHOLDERS = ['topic', 'clientid', 'username'] as const
export const MQTT_TOPIC_PLACEHOLDERS = ['key'] as const

/** A piece of a parsed template. */
export type TemplatePart =
  | { kind: 'text'; text: string }
  | { kind: 'var'; name: string }
  | { kind: 'level'; n: number }

const PLACEHOLDER = /\$\{([^}]*)\}|\{([^}]*)\}/g

export type ParsedTemplate = { ok: true; parts: TemplatePart[] } | { ok: false; error: string }

/** Splits a template into parts; `levels` says whether `{N}` is allowed. */
export function parseTemplate (template: string, names: readonly string[], levels: boolean): ParsedTemplate {
  const parts: TemplatePart[] = []
  let last = 0
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push({ kind: 'text', text: template.slice(last, m.index) })
    last = m.index + m[0].length
    if (m[1] !== undefined) {
      if (!names.includes(m[1])) return { ok: false, error: `unknown placeholder \${${m[1]}}` }
      parts.push({ kind: 'var', name: m[1] })
    } else {
      const n = Number(m[2])
      if (!levels || !/^[1-9][0-9]{0,3}$/.test(m[2] ?? '')) return { ok: false, error: `unknown placeholder {${m[2] ?? ''}}` }
      parts.push({ kind: 'level', n })
    }
  }
  if (last < template.length) parts.push({ kind: 'text', text: template.slice(last) })
  return { ok: true, parts }
}

/** The problem with a key template, or undefined when it is valid. */
export function keyTemplateError (template: string): string | undefined {
  const parsed = parseTemplate(template, KEY_PLACEHOLDERS, true)
  return parsed.ok ? undefined : parsed.error
}

/** The problem with an MQTT topic template, or undefined when it is valid. */
export function mqttTopicTemplateError (template: string): string | undefined {
  const parsed = parseTemplate(template, MQTT_TOPIC_PLACEHOLDERS, false)
  if (!parsed.ok) return parsed.error
  if (template.length === 0) return 'an empty template'
  if (parsed.parts.some((p) => p.kind === 'text' && (p.text.includes('+') || p.text.includes('#') || p.text.includes('\u0000')))) return 'wildcards (+, #) in an MQTT topic template'
  return undefined
}

/** The N-th level (1-based) of `topic`, or undefined when the topic has fewer levels. */
export function topicLevel (topic: string, n: number): string | undefined {
  let start = 0
  for (let i = 1; i < n; i++) {
    const slash = topic.indexOf('/', start)
    if (slash === -1) return undefined
    start = slash + 1
  }
  const end = topic.indexOf('/', start)
  return end === -1 ? topic.slice(start) : topic.slice(start, end)
}

export type KeyTemplate = (message: MqttMessage) => string

/**
 * Compiles a (valid) key template. A `{N}` the topic does not have makes the whole key the MQTT
 * topic, so such messages still share a partition per topic. Unknown client id / username are ''.
 */
export function compileKeyTemplate (template: string): KeyTemplate {
  const parsed = parseTemplate(template, KEY_PLACEHOLDERS, true)
  if (!parsed.ok) throw new Error(`invalid key template ${JSON.stringify(template)}: ${parsed.error}`)
  const parts = parsed.parts
  const only = parts.length === 1 ? parts[0] : undefined
  if (only?.kind === 'var' && only.name === 'topic') return (m) => m.topic
  if (parts.length === 0) return () => ''
  return (m) => {
    let out = ''
    for (const part of parts) {
      if (part.kind === 'text') out += part.text
      else if (part.kind === 'level') {
        const level = topicLevel(m.topic, part.n)
        if (level === undefined) return m.topic
        out += level
      } else if (part.name === 'topic') out += m.topic
      else if (part.name === 'clientid') out += m.clientId ?? ''
      else out += m.username ?? ''
    }
    return out
  }
}

/** The parts of a template the configuration schema accepted (throws on an invalid one). */
export function templateParts (template: string, kind: 'key' | 'mqtt_topic'): TemplatePart[] {
  const parsed = kind === 'key' ? parseTemplate(template, KEY_PLACEHOLDERS, true) : parseTemplate(template, MQTT_TOPIC_PLACEHOLDERS, false)
  if (!parsed.ok) throw new Error(`invalid ${kind} template ${JSON.stringify(template)}: ${parsed.error}`)
  return parsed.parts
}

/**
 * The other direction of an `mqtt_topic` template: for a topic the template can make, the key it
 * was made from (null when the template has no `${key}`, so any key makes it); undefined for a
 * topic the template cannot make.
 */
export function templateKeyOf (parts: TemplatePart[]): (topic: string) => string | null | undefined {
  const escape = (t: string): string => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const pattern = new RegExp('^' + parts.map(p => (p.kind === 'text' ? escape(p.text) : '(.*)')).join('') + '$', 's')
  return (topic) => {
    const m = pattern.exec(topic)
    if (m === null) return undefined
    if (m.length === 1) return null
    // every ${key} of the template is the same key
    return m.slice(2).every(k => k === m[1]) ? m[1] as string : undefined
  }
}

/** Compiles a (valid) MQTT topic template: `${key}` is the record key. */
export function compileMqttTopicTemplate (template: string): (key: string) => string {
  const parsed = parseTemplate(template, MQTT_TOPIC_PLACEHOLDERS, false)
  if (!parsed.ok) throw new Error(`invalid mqtt_topic template ${JSON.stringify(template)}: ${parsed.error}`)
  const parts = parsed.parts
  return (key) => {
    let out = ''
    for (const part of parts) out += part.kind === 'text' ? part.text : key
    return out
  }
}
