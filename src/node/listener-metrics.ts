import type { ListenerStats } from '../listeners/index.js'
import type { Metrics } from '../observability/metrics.js'

/**
 * Per-listener numbers in /metrics, read from the listeners' own counters at scrape time:
 * connections open now and accepted, connections handed on to MQTT, and connections a listener
 * closed itself by reason (refusals and failed handshakes: `handshake_failed:<openssl reason>`,
 * `proxy_protocol_invalid`, `ws_bad_path`, ...), so a wrong CA or a port scanner shows up by name.
 */
export function registerListenerMetrics (m: Metrics, stats: () => Record<string, ListenerStats>): void {
  const per = (field: 'current' | 'total' | 'handedOn' | 'throttled') => function * (): Iterable<[Record<string, string>, number]> {
    for (const [listener, s] of Object.entries(stats())) yield [{ listener }, s[field]]
  }
  m.gaugeByLabelsFrom('wharf_listener_connections', 'connections open on the listener now (TLS and WebSocket handshakes included)', ['listener'], per('current'))
  m.countByLabelsFrom('wharf_listener_connections_total', 'TCP connections the listener accepted', ['listener'], per('total'))
  m.countByLabelsFrom('wharf_listener_mqtt_connections_total', 'connections handed on to MQTT after TLS, WebSocket and PROXY protocol', ['listener'], per('handedOn'))
  m.countByLabelsFrom('wharf_listener_throttled_total', 'connections that waited for their turn under max_conn_rate (accepting paused, none refused)', ['listener'], per('throttled'))
  m.countByLabelsFrom('wharf_listener_closed_total', 'connections the listener closed itself before MQTT, by reason (refusals, failed handshakes)', ['listener', 'reason'], function * () {
    for (const [listener, s] of Object.entries(stats())) {
      for (const [reason, n] of Object.entries(s.closed)) yield [{ listener, reason }, n]
    }
  })
}
