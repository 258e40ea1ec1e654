export const VERSION = '0.1.0';
export * from './servers/proxmox.js';
