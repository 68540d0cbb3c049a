/** The configuration module: YAML file + `WHARF_*` environment overrides, validated by zod. */
export { loadConfig, type LoadConfigOptions } from './load.js'
export { ConfigError } from './errors.js'
export { configSchema, type WharfConfig, type TcpListenerConfig, type TopicSpec } from './schema.js'
export { parseBind, type HostPort } from './bind.js'
