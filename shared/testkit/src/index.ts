export { startRedisServer, freePort } from '@switchboard/lanes';
export type { PrivateRedis } from '@switchboard/lanes';
export { waitFor, uniquePrefix } from './wait.ts';
export { startFakeOpenAI, echoScript, lastUserMessages, messageText, fakeEmbedding } from './fake-openai.ts';
export type { FakeOpenAI, FakeOpenAIOptions, FakeResponse, FakeScript, FakeChatRequest, FakeChatMessage, FakeToolCall, FakeEmbeddingRequest, FakeUsage } from './fake-openai.ts';
export { startFakeTelegram } from './fake-telegram.ts';
export type { FakeTelegram, FakeTelegramCall, FakeTelegramFailure, FakeTelegramFailer, FakeTelegramOptions } from './fake-telegram.ts';
export { startFakeWhatsApp, signWhatsAppWebhook, whatsappMessageWebhook, fakeWamid } from './fake-whatsapp.ts'; export type { FakeWhatsApp, FakeWhatsAppCall, FakeWhatsAppCallKind, FakeWhatsAppFailure, FakeWhatsAppOptions, FakeWhatsAppSent } from './fake-whatsapp.ts';
export { startFakeSlack, slackSignatureHeaders } from './fake-slack.ts'; export type { FakeSlack, FakeSlackCall, FakeSlackFailure, FakeSlackMessage, FakeSlackOptions } from './fake-slack.ts'; export type { FakeSocketMode, FakeSocketAck } from './fake-slack-socket.ts';
