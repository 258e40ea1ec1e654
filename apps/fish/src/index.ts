export { VERSION } from './version.js';
export { loadConfig, FishConfigSchema, type FishConfig } from './config.js';
export { composeFish, type FishApp, type ComposeOptions } from './compose.js';
export { createApprovalApp, startApprovalServer, type ApprovalServerOptions, type RunningServer } from './approval-server.js';
export { createFishRegistry, FIRST_PARTY_PLUGINS } from './plugins.js';
export { runDemo, type DemoOptions } from './commands/demo.js';
export { createFishMetrics, type FishMetrics } from './operate/metrics.js';
export { fishEngineObserver, observeFish, startMetricsServer, type MetricsServer, type ObserveOptions } from './operate/observe.js';
export { AUDIT_WRITES, instrumentAudit, instrumentLlm, instrumentNotifier } from './operate/instrument.js';
