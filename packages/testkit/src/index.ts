export const VERSION = '0.1.0';
export { testAuditStore, sampleIncident, sampleProposal, sampleExecution, sampleStep, type TestAuditStoreOptions } from './conformance/audit-store.js';
