export { isValidTopicName, topicMatches } from '../bridge/topic-filter.js'
