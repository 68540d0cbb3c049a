export { LocalKafka, PINNED_KAFKA_VERSION, type LocalKafkaOptions, type LocalKafkaNodeStatus } from './local-kafka.js'
export { ensureKafkaJars, kafkaJarsDir, kafkaVersion } from './kafka-jars.js'
export { findFreePort, findFreePortBlock } from './ports.js'
