export const VERSION = '0.1.0';
export * from './servers/proxmox.js';
export * from './servers/anthropic.js';
export * from './servers/ollama.js';
export * from './conformance/llm-provider.js';
