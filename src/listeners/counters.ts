/**
 * Why a listener closed a connection before (or instead of) handing it on. Handshake failures
 * carry OpenSSL's reason: `handshake_failed:wrong_version_number`, `handshake_failed:handshake_timeout`.
 */
export type CloseReason =
  | 'max_connections'
  | 'proxy_protocol_invalid'
  | 'proxy_protocol_timeout'
  | `handshake_failed:${string}`
  | 'http_bad_request'
  | 'ws_not_websocket'
  | 'ws_bad_path'
  | 'ws_bad_origin'
  | 'ws_bad_subprotocol'
  | 'ws_upgrade_timeout'
  | 'ws_text_frame'

/** One listener's numbers, as plain data (for /metrics and /ready). */
export interface ListenerStats {
  /** TCP connections open now (handshakes in progress included). */
  current: number
  /** TCP connections accepted since the listener opened (refused ones not included). */
  total: number
  /** Connections handed on to MQTT since the listener opened. */
  handedOn: number
  /** Connections that waited for their turn under `max_conn_rate` (accepting paused; none refused). */
  throttled: number
  /** Connections closed by the listener, by reason (refusals included). */
  closed: Record<string, number>
}

/** A listener's counters; `closed` reasons appear as they happen. */
export class ListenerCounters {
  current = 0
  total = 0
  handedOn = 0
  throttled = 0
  private readonly closed = new Map<string, number>()

  close (reason: CloseReason): void {
    this.closed.set(reason, (this.closed.get(reason) ?? 0) + 1)
  }

  snapshot (): ListenerStats {
    return { current: this.current, total: this.total, handedOn: this.handedOn, throttled: this.throttled, closed: Object.fromEntries(this.closed) }
  }
}

/**
 * The reason text of a TLS handshake error: OpenSSL's code without its `ERR_SSL_`/`ERR_TLS_`
 * prefix, lowercase (`ERR_SSL_WRONG_VERSION_NUMBER` -> `wrong_version_number`); a bounded set.
 */
export function handshakeFailure (err: unknown): CloseReason {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const reason = typeof code === 'string' && /^[A-Z0-9_]{1,80}$/.test(code) ? code.replace(/^ERR_(SSL|TLS)_/, '').toLowerCase() : 'other'
  return `handshake_failed:${reason}`
}
