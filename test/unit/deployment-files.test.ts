import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { loadConfig } from '../../src/config/index.js'
import { PINNED_KAFKA_VERSION } from '../../src/local-kafka/kafka-jars.js'

/*
 * No Docker engine or Kubernetes runs here: this lints what can be linted in docker/ by reading
 * it (YAML parses, the shapes compose and Kubernetes need, the ConfigMap's wharf.yaml against the
 * project's own configuration schema, the Dockerfile's stages and user, the HAProxy backends).
 */

const DOCKER_DIR = fileURLToPath(new URL('../../docker/', import.meta.url))
const EDGES = ['wharf1', 'wharf2', 'wharf3']
/** MQTT over TCP, TLS, WebSocket and secure WebSocket. */
const MQTT_PORTS = [1883, 8883, 8083, 8084]

type Doc = Record<string, unknown>

function isMapping (value: unknown): value is Doc {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function mapping (value: unknown, what: string): Doc {
  assert.ok(isMapping(value), `${what} must be a mapping`)
  return value
}

function yamlFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return yamlFiles(path)
    return /\.ya?ml$/.test(name) ? [path] : []
  }).sort()
}

/**
 * Every document of a YAML file (multi-document aware); fails on any parse error or warning.
 * Merge keys (`<<: *anchor`) are resolved, as docker compose does.
 */
function readYaml (path: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'), { merge: true })
  assert.ok(Array.isArray(docs), `${path}: not a YAML stream`)
  const out: Doc[] = []
  for (const doc of docs) {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `${path}: YAML errors`)
    assert.deepEqual(doc.warnings.map((e) => e.message), [], `${path}: YAML warnings`)
    const value: unknown = doc.toJS({ maxAliasCount: 100 })
    if (value === null || value === undefined) continue // an empty document, e.g. after a trailing ---
    out.push(mapping(value, `a document of ${path}`))
  }
  assert.ok(out.length > 0, `${path} holds no document`)
  return out
}

function k8sDocs (): Array<{ file: string; doc: Doc }> {
  return yamlFiles(join(DOCKER_DIR, 'k8s')).flatMap((file) => readYaml(file).map((doc) => ({ file, doc })))
}

function ofKind (kind: string): Doc[] {
  return k8sDocs().filter(({ doc }) => doc.kind === kind).map(({ doc }) => doc)
}

function only<T> (items: T[], what: string): T {
  assert.equal(items.length, 1, `expected exactly one ${what}, found ${items.length}`)
  return items[0] as T
}

describe('docker/: every YAML file parses', () => {
  const files = yamlFiles(DOCKER_DIR)
  it('finds the compose file and the Kubernetes manifests', () => {
    const names = files.map((f) => relative(DOCKER_DIR, f))
    for (const expected of ['compose.yaml', 'k8s/configmap.yaml', 'k8s/deployment.yaml', 'k8s/service.yaml']) {
      assert.ok(names.includes(expected), `docker/${expected} is missing (found ${names.join(', ')})`)
    }
  })
  for (const file of files) {
    it(relative(DOCKER_DIR, file), () => { readYaml(file) })
  }
})

describe('docker/compose.yaml', () => {
  const compose = only(readYaml(join(DOCKER_DIR, 'compose.yaml')), 'document')
  const services = mapping(compose.services, 'services')
  const service = (name: string): Doc => mapping(services[name], `service ${name}`)
  const env = (name: string): Doc => mapping(service(name).environment, `${name}.environment`)

  it('has kafka, three edges, the load balancer and the test certificates\' maker', () => {
    assert.deepEqual(Object.keys(services).sort(), ['certs', 'haproxy', 'kafka', ...EDGES].sort())
  })

  it('makes a test CA and server certificate once into ./certs, which the edges mount', () => {
    const certs = service('certs')
    assert.ok((certs.volumes as unknown[]).map(String).includes('./certs:/certs'))
    const script = (certs.command as unknown[]).map(String).join('\n')
    assert.match(script, /if \[ -s server\.pem \] && \[ -s server\.key \]; then exit 0; fi/)
    assert.match(script, /subjectAltName=DNS:localhost,IP:127\.0\.0\.1,DNS:wharf1,DNS:wharf2,DNS:wharf3/)
    for (const edge of EDGES) {
      assert.ok((service(edge).volumes as unknown[]).map(String).includes('./certs:/etc/wharf/certs:ro'), `${edge} mounts the certificates`)
      assert.deepEqual(mapping(service(edge).depends_on, `${edge}.depends_on`).certs, { condition: 'service_completed_successfully' })
    }
  })

  for (const edge of EDGES) {
    it(`${edge}'s environment is a valid configuration: every listener behind HAProxy's PROXY protocol, TLS from ./certs`, () => {
      const vars = Object.fromEntries(Object.entries(env(edge)).map(([k, v]) => [k, String(v)]))
      const config = loadConfig({ env: vars })
      const listeners = config.listeners as unknown as Record<string, Record<string, { bind: string, proxy_protocol: boolean, ssl_options?: { certfile: string, keyfile: string } }>>
      const expected: Record<string, string> = { tcp: '0.0.0.0:1883', ssl: '0.0.0.0:8883', ws: '0.0.0.0:8083', wss: '0.0.0.0:8084' }
      for (const [kind, bind] of Object.entries(expected)) {
        const l = listeners[kind]?.default
        assert.equal(l?.bind, bind, `${kind}.default.bind`)
        assert.equal(l?.proxy_protocol, true, `${kind}.default.proxy_protocol`)
        if (kind === 'ssl' || kind === 'wss') assert.match(`${l?.ssl_options?.certfile} ${l?.ssl_options?.keyfile}`, /^\/etc\/wharf\/certs\/server\.pem \/etc\/wharf\/certs\/server\.key$/)
      }
    })
  }

  it(`runs a single-node KRaft Apache Kafka ${PINNED_KAFKA_VERSION} (the version the tests run on) with a healthcheck`, () => {
    const kafka = service('kafka')
    assert.equal(kafka.image, `apache/kafka:${PINNED_KAFKA_VERSION}`)
    assert.equal(env('kafka').KAFKA_PROCESS_ROLES, 'broker,controller')
    assert.match(String(env('kafka').KAFKA_ADVERTISED_LISTENERS), /PLAINTEXT:\/\/kafka:9092/)
    assert.ok(isMapping(kafka.healthcheck) && kafka.healthcheck.test !== undefined, 'kafka needs a healthcheck')
  })

  for (const edge of EDGES) {
    it(`${edge} is built from docker/Dockerfile, names itself, waits for a healthy kafka, checks /ready`, () => {
      const s = service(edge)
      const build = mapping(s.build, `${edge}.build`)
      assert.equal(build.context, '..')
      assert.equal(build.dockerfile, 'docker/Dockerfile')
      assert.equal(env(edge).WHARF_NODE__NAME, edge)
      assert.equal(env(edge).WHARF_KAFKA__BROKERS, 'kafka:9092')
      const dependsOn = mapping(s.depends_on, `${edge}.depends_on`)
      assert.deepEqual(dependsOn.kafka, { condition: 'service_healthy' })
      const test = mapping(s.healthcheck, `${edge}.healthcheck`).test
      assert.match(JSON.stringify(test), /:18083\/ready/)
    })
  }

  it('edges have distinct node names and host ports', () => {
    const names = EDGES.map((e) => env(e).WHARF_NODE__NAME)
    assert.equal(new Set(names).size, EDGES.length)
    const hostPorts = EDGES.flatMap((e) => (service(e).ports as unknown[] | undefined ?? []).map((p) => String(p).split(':')[0]))
    assert.equal(new Set(hostPorts).size, hostPorts.length, `duplicate host ports: ${hostPorts.join(', ')}`)
  })

  it('puts HAProxy on host ports 1883, 8883, 8083 and 8084 in front of the edges', () => {
    const lb = service('haproxy')
    assert.match(String(lb.image), /^haproxy:3\.0/)
    for (const port of MQTT_PORTS) assert.ok((lb.ports as unknown[]).map(String).includes(`${port}:${port}`), `the load balancer publishes ${port}`)
    assert.ok((lb.volumes as unknown[]).map(String).some((v) => v.startsWith('./haproxy.cfg:')), 'haproxy.cfg is mounted')
    const deps = lb.depends_on
    const depNames = Array.isArray(deps) ? deps.map(String) : Object.keys(mapping(deps, 'haproxy.depends_on'))
    assert.deepEqual(depNames.sort(), [...EDGES].sort())
    for (const edge of EDGES) {
      const taken = (service(edge).ports as unknown[] | undefined ?? []).map((p) => Number(String(p).split(':')[0]))
      assert.ok(!taken.some((p) => MQTT_PORTS.includes(p)), `${edge} must not take a host port of HAProxy's`)
    }
  })
})

describe('docker/haproxy.cfg', () => {
  const cfg = readFileSync(join(DOCKER_DIR, 'haproxy.cfg'), 'utf8')
  const lines = cfg.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '')

  it('balances MQTT over TCP with leastconn and long timeouts', () => {
    assert.ok(lines.includes('mode tcp'))
    assert.ok(lines.includes('balance leastconn'))
    assert.ok(lines.some((l) => /^bind\s+\S*:1883$/.test(l)), 'a frontend binds 1883')
    for (const side of ['client', 'server']) {
      const line = lines.find((l) => l.startsWith(`timeout ${side} `))
      assert.ok(line !== undefined, `timeout ${side} is set`)
      const m = /^timeout \w+ (\d+)(ms|s|m|h)?$/.exec(line)
      assert.ok(m !== null, `cannot read "${line}"`)
      const ms = Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms'] ?? 1)
      assert.ok(ms >= 5 * 60_000, `${line}: MQTT keepalives need minutes, not seconds`)
    }
  })

  it('checks every edge through its HTTP /ready', () => {
    assert.ok(lines.includes('option httpchk GET /ready'))
    for (const edge of EDGES) {
      assert.ok(lines.some((l) => new RegExp(`^server ${edge} ${edge}:1883 .*\\bcheck port 18083\\b`).test(l)), `no checked server line for ${edge}`)
    }
  })

  it('passes each MQTT port through to the same port of every edge, with a PROXY protocol v2 header', () => {
    for (const port of MQTT_PORTS) {
      assert.ok(lines.some((l) => new RegExp(`^bind\\s+\\S*:${port}$`).test(l)), `a frontend binds ${port}`)
      for (const edge of EDGES) {
        assert.ok(lines.some((l) => new RegExp(`^server ${edge} ${edge}:${port} send-proxy-v2 check port 18083\\b`).test(l)), `no server line for ${edge}:${port} with send-proxy-v2`)
      }
    }
    assert.ok(!lines.some((l) => /\bcheck-send-proxy\b/.test(l)), 'health checks go to the HTTP port without a PROXY header')
  })
})

describe('docker/k8s manifests', () => {
  it('every manifest has apiVersion, kind and metadata.name', () => {
    for (const { file, doc } of k8sDocs()) {
      const where = relative(DOCKER_DIR, file)
      assert.equal(typeof doc.apiVersion, 'string', `${where}: apiVersion`)
      assert.equal(typeof doc.kind, 'string', `${where}: kind`)
      assert.equal(typeof mapping(doc.metadata, `${where}: metadata`).name, 'string', `${where}: metadata.name`)
    }
  })

  it('the Deployment runs 3 non-root edges named after their pods, with probes and resources', () => {
    const deployment = only(ofKind('Deployment'), 'Deployment')
    const spec = mapping(deployment.spec, 'spec')
    assert.equal(spec.replicas, 3)
    const selector = mapping(mapping(spec.selector, 'selector').matchLabels, 'matchLabels')
    const template = mapping(spec.template, 'template')
    const labels = mapping(mapping(template.metadata, 'template.metadata').labels, 'template labels')
    for (const [k, v] of Object.entries(selector)) assert.equal(labels[k], v, `the pod template carries selector label ${k}`)
    const pod = mapping(template.spec, 'pod spec')
    assert.ok(Number(pod.terminationGracePeriodSeconds) >= 30)
    const podSecurity = mapping(pod.securityContext, 'pod securityContext')
    assert.equal(podSecurity.runAsNonRoot, true)
    assert.notEqual(podSecurity.runAsUser, 0)

    const container = only(pod.containers as Doc[], 'container')
    const env = (container.env as Doc[]).map((e) => mapping(e, 'env entry'))
    const byName = new Map(env.map((e) => [e.name, e]))
    const nodeName = byName.get('WHARF_NODE__NAME')
    assert.ok(nodeName !== undefined, 'WHARF_NODE__NAME is set')
    const fromPodName = (e: Doc | undefined): boolean =>
      isMapping(e?.valueFrom) && isMapping(e.valueFrom.fieldRef) && e.valueFrom.fieldRef.fieldPath === 'metadata.name'
    const ref = /^\$\((\w+)\)$/.exec(String(nodeName.value ?? ''))
    assert.ok(fromPodName(nodeName) || (ref !== null && fromPodName(byName.get(ref[1]))), 'WHARF_NODE__NAME comes from the pod name')

    const ports = new Map((container.ports as Doc[]).map((p) => [p.name, p.containerPort]))
    assert.equal(ports.get('mqtt'), 1883)
    assert.equal(ports.get('mqtt-ssl'), 8883)
    assert.equal(ports.get('mqtt-ws'), 8083)
    assert.equal(ports.get('mqtt-wss'), 8084)
    assert.equal(ports.get('http'), 18083)
    const probePath = (probe: unknown): [unknown, unknown] => {
      const httpGet = mapping(mapping(probe, 'probe').httpGet, 'httpGet')
      const port = typeof httpGet.port === 'string' ? ports.get(httpGet.port) : httpGet.port
      return [httpGet.path, port]
    }
    assert.deepEqual(probePath(container.readinessProbe), ['/ready', 18083])
    assert.deepEqual(probePath(container.livenessProbe), ['/health', 18083])
    const resources = mapping(container.resources, 'resources')
    assert.ok(isMapping(resources.requests) && isMapping(resources.limits))

    // the configuration comes from the ConfigMap, through WHARF_CONFIG
    const configFile = String(byName.get('WHARF_CONFIG')?.value ?? '')
    const configMap = only(ofKind('ConfigMap'), 'ConfigMap')
    const configMapName = mapping(configMap.metadata, 'metadata').name
    const volume = (pod.volumes as Doc[]).find((v) => isMapping(v.configMap) && v.configMap.name === configMapName)
    assert.ok(volume !== undefined, 'a volume mounts the ConfigMap')
    const mount = (container.volumeMounts as Doc[]).find((m) => m.name === volume.name)
    assert.ok(mount !== undefined, 'the container mounts that volume')
    const key = Object.keys(mapping(configMap.data, 'data'))[0]
    assert.equal(configFile, `${String(mount.mountPath)}/${String(key)}`, 'WHARF_CONFIG points at the mounted file')
  })

  it('the Services expose MQTT 1883, 8883, 8083, 8084 and HTTP 18083 of the Deployment\'s pods', () => {
    const deployment = only(ofKind('Deployment'), 'Deployment')
    const podLabels = mapping(mapping(mapping(mapping(deployment.spec, 'spec').template, 'template').metadata, 'metadata').labels, 'labels')
    const exposed = new Set<unknown>()
    for (const service of ofKind('Service')) {
      const spec = mapping(service.spec, 'service spec')
      for (const [k, v] of Object.entries(mapping(spec.selector, 'service selector'))) assert.equal(podLabels[k], v, `service selector ${k}`)
      for (const p of spec.ports as Doc[]) exposed.add(p.port)
    }
    for (const port of [...MQTT_PORTS, 18083]) assert.ok(exposed.has(port), `port ${port} is not exposed (exposed: ${[...exposed].join(', ')})`)
  })

  describe('the ConfigMap\'s wharf.yaml is a valid Wharf configuration', () => {
    let dir = ''
    before(() => { dir = mkdtempSync(join(tmpdir(), 'wharf-deploy-')) })
    after(() => { rmSync(dir, { recursive: true, force: true }) })

    it('loads with the project\'s loadConfig (unknown keys would be errors)', () => {
      const configMap = only(ofKind('ConfigMap'), 'ConfigMap')
      const data = mapping(configMap.data, 'data')
      const text = data['wharf.yaml']
      assert.equal(typeof text, 'string', 'data has a wharf.yaml')
      const file = join(dir, 'wharf.yaml')
      writeFileSync(file, String(text))
      const config = loadConfig({ file, env: {} })
      assert.ok(config.kafka.brokers !== undefined && config.kafka.brokers.length > 0, 'kafka.brokers is set (an edge in a pod must not start a local Kafka)')
      assert.equal(config.http.port, 18083)
      assert.equal(config.listeners.tcp.default?.bind, '0.0.0.0:1883')
    })

    it('takes the TLS files from the Secret the Deployment mounts', () => {
      const configMap = only(ofKind('ConfigMap'), 'ConfigMap')
      const file = join(dir, 'tls.yaml')
      writeFileSync(file, String(mapping(configMap.data, 'data')['wharf.yaml']))
      const listeners = loadConfig({ file, env: {} }).listeners as unknown as Record<string, Record<string, { bind: string, ssl_options?: { certfile: string, keyfile: string } }>>
      const pod = mapping(mapping(mapping(only(ofKind('Deployment'), 'Deployment').spec, 'spec').template, 'template').spec, 'pod spec')
      const volume = (pod.volumes as Doc[]).find((v) => isMapping(v.secret))
      assert.ok(volume !== undefined && isMapping(volume.secret), 'a volume holds a Secret')
      const mount = (only(pod.containers as Doc[], 'container').volumeMounts as Doc[]).find((m) => m.name === volume.name)
      assert.ok(mount !== undefined, 'the container mounts the Secret')
      for (const [kind, bind] of [['ssl', '0.0.0.0:8883'], ['ws', '0.0.0.0:8083'], ['wss', '0.0.0.0:8084']] as const) {
        const l = listeners[kind]?.default
        assert.equal(l?.bind, bind, `${kind}.default.bind`)
        if (kind === 'ws') continue
        for (const f of [l?.ssl_options?.certfile, l?.ssl_options?.keyfile]) {
          assert.ok(String(f).startsWith(`${String(mount.mountPath)}/`), `${kind}: ${String(f)} is not in the Secret's folder ${String(mount.mountPath)}`)
        }
      }
    })
  })
})

describe('docker/Dockerfile', () => {
  const text = readFileSync(join(DOCKER_DIR, 'Dockerfile'), 'utf8')
  // instructions, with continuation lines joined and comments dropped
  const instructions = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const named = (keyword: string): string[] => instructions.filter((l) => l.toUpperCase().startsWith(`${keyword} `)).map((l) => l.slice(keyword.length + 1).trim())

  it('is a multi-stage build whose final stage copies from an earlier one', () => {
    const froms = named('FROM')
    assert.ok(froms.length >= 2, `expected at least two FROM lines, found ${froms.length}`)
    assert.ok(named('COPY').some((c) => c.startsWith('--from=')), 'the runtime stage copies the build output')
  })

  it('runs as a user that is not root', () => {
    const users = named('USER')
    assert.ok(users.length > 0, 'a USER instruction')
    const last = users[users.length - 1] ?? ''
    assert.ok(!['root', '0', '0:0', 'root:root'].includes(last), `USER ${last} is root`)
    // the last USER comes after the last FROM (it applies to the final stage)
    assert.ok(instructions.lastIndexOf(`USER ${last}`) > instructions.findLastIndex((l) => l.startsWith('FROM ')))
  })

  it('its ENTRYPOINT runs dist/cli/main.js (start by default)', () => {
    const entrypoint = named('ENTRYPOINT').at(-1)
    assert.ok(entrypoint !== undefined, 'an ENTRYPOINT')
    const argv = JSON.parse(entrypoint) as string[]
    assert.equal(argv[0], 'node')
    assert.ok(argv.includes('dist/cli/main.js'))
    assert.deepEqual(JSON.parse(named('CMD').at(-1) ?? '[]'), ['start'])
  })

  it('ships the Avro envelope schema next to dist (mapping/avro-envelope.ts reads ../../schemas)', () => {
    assert.ok(named('COPY').some((c) => /(^|\s)schemas\s+\.\/schemas$/.test(c)), 'COPY ... schemas ./schemas in the runtime stage')
  })
})
