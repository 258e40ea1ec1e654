export const VERSION = '0.1.0';

export { loadConfig, type BreakglassConfig } from './config.js';
export { startBreakglass, defaultWebRoot, type StartOptions, type RunningBreakglass } from './server.js';
export { createApp, type AppOptions } from './http/app.js';
export { SessionManager, Session, type CommandRunner, type SessionManagerOptions } from './agent/session.js';
export { eventsToMessages, type SessionEvent, type SessionEventBody } from './agent/events.js';
export { AGENT_TOOLS, isReadOnlyCommand, planToolCall, wrapUntrusted } from './agent/tools.js';
export { buildSystemPrompt } from './agent/system-prompt.js';
export { POWER_VERBS, MUTATING_VERBS, isPowerVerb, parsePowerVerb, type PowerVerb, type PowerBackend, type PowerResult } from './power/verbs.js';
export { PowerService } from './power/power-service.js';
export { createSshPowerBackend } from './power/ssh-power-backend.js';
export { createProxmoxPowerBackend } from './power/proxmox-power-backend.js';
export { ProxmoxClient, UPID_PATTERN, taskSucceeded } from './power/proxmox-client.js';
export { sshExec, quoteArgv } from './ssh/ssh-exec.js';
