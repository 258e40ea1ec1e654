export const VERSION = '0.1.0';
export { testAuditStore, sampleIncident, sampleProposal, sampleExecution, sampleStep, type TestAuditStoreOptions } from './conformance/audit-store.js';
export { testNotifier, sampleNotice, sampleActions, type DeliveredNotification, type TestNotifierOptions } from './conformance/notifier.js';
export {
  startNtfyServer,
  decodeRfc2047,
  type NtfyServerOptions,
  type NtfyServerVersion,
  type NtfyTestServer,
  type NtfyMessage,
  type NtfyAction,
  type NtfyUser,
  type NtfyAuthOptions,
  type RecordedNtfyRequest,
} from './servers/ntfy.js';
