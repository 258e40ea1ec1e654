import { timingSafeEqual } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { FishError, FishErrorCode, errorMessage } from '@fish-sre/core';
import { z } from 'zod';

/**
 * A Proxmox VE API client for exactly what breakglass needs: VM status and power tasks.
 *
 * TLS: pveproxy serves a self-signed certificate. It is pinned by its SHA-256 fingerprint. The TLS
 * socket is opened with chain verification off ONLY so that the pin can be checked, and no byte of
 * the request (which carries the token) is written until the peer certificate's fingerprint has
 * matched in constant time. There is no way to build this client without a pin.
 */

export interface ProxmoxClientOptions {
  host: string;
  port: number;
  /** `user@realm!tokenid` */
  tokenId: string;
  tokenSecret: string;
  /** 64 hex digits, colons and case ignored. */
  fingerprintSha256: string;
  /** Per HTTP request. @default 10000 */
  requestTimeoutMs?: number;
}

export const UPID_PATTERN = /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/;

export interface TaskStatus {
  status: 'running' | 'stopped';
  exitstatus?: string;
  type?: string;
  upid?: string;
}

const TaskStatusSchema = z.object({ status: z.enum(['running', 'stopped']), exitstatus: z.string().optional(), type: z.string().optional(), upid: z.string().optional() }).loose();
const VmStatusSchema = z.object({ status: z.string(), qmpstatus: z.string().optional(), name: z.string().optional(), uptime: z.number().optional() }).loose();
export type VmStatus = z.infer<typeof VmStatusSchema>;

/** `OK` and `WARNINGS: n` are success (upstream `status_is_error`); anything else is the error text. */
export function taskSucceeded(exitstatus: string | undefined): boolean {
  return exitstatus === 'OK' || /^WARNINGS: \d+$/.test(exitstatus ?? '');
}

function scopeError(code: FishErrorCode, message: string, cause?: unknown, isRetryable = false): FishError {
  return new FishError({ code, message: errorMessage('proxmox', message), ...(cause === undefined ? {} : { cause }), isRetryable });
}

export class ProxmoxClient {
  private readonly pin: Buffer;

  constructor(private readonly options: ProxmoxClientOptions) {
    const hex = options.fingerprintSha256.replace(/^sha256:/i, '').replace(/:/g, '');
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw scopeError(FishErrorCode.CONFIG_INVALID, 'a SHA-256 certificate fingerprint (64 hex digits) is required: there is no unpinned mode');
    this.pin = Buffer.from(hex, 'hex');
  }

  /** Opens a TLS socket and resolves only once the certificate matched the pin. */
  private pinnedSocket(signal: AbortSignal): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: this.options.host, port: this.options.port, rejectUnauthorized: false });
      const fail = (error: unknown) => {
        socket.destroy();
        reject(error);
      };
      const onAbort = () => fail(scopeError(FishErrorCode.HYPERVISOR_FAILED, `connection to ${this.options.host}:${this.options.port} timed out or was cancelled`, signal.reason, true));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        fail(scopeError(FishErrorCode.HYPERVISOR_FAILED, `cannot reach ${this.options.host}:${this.options.port}: ${error.message}`, error, true));
      });
      socket.once('secureConnect', () => {
        signal.removeEventListener('abort', onAbort);
        const certificate = socket.getPeerCertificate();
        const actualHex = (certificate?.fingerprint256 ?? '').replace(/:/g, '');
        const actual = Buffer.from(actualHex, 'hex');
        if (actual.length !== this.pin.length || !timingSafeEqual(actual, this.pin)) {
          fail(
            scopeError(
              FishErrorCode.HYPERVISOR_FAILED,
              `certificate of ${this.options.host}:${this.options.port} does not match the pinned SHA-256 fingerprint (got ${certificate?.fingerprint256 ?? 'none'}); refusing to send the token`,
            ),
          );
          return;
        }
        socket.removeAllListeners('error');
        resolve(socket);
      });
    });
  }

  /** One API call. Returns `data` from the `{"data": ...}` envelope; non-2xx becomes a FishError. */
  async call(method: 'GET' | 'POST', path: string, signal: AbortSignal, body?: Record<string, string>): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000);
    const combined = AbortSignal.any([signal, timeout]);
    const socket = await this.pinnedSocket(combined);
    const payload = body === undefined ? undefined : new URLSearchParams(body).toString();
    return new Promise((resolve, reject) => {
      const request = httpsRequest(
        {
          method,
          host: this.options.host,
          port: this.options.port,
          path: `/api2/json${path}`,
          createConnection: () => socket,
          headers: {
            authorization: `PVEAPIToken=${this.options.tokenId}=${this.options.tokenSecret}`,
            accept: 'application/json',
            ...(payload === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(payload) }),
          },
          signal: combined,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > 1024 * 1024) {
              response.destroy();
              reject(scopeError(FishErrorCode.HYPERVISOR_FAILED, `${method} ${path}: response larger than 1 MiB`));
              return;
            }
            chunks.push(chunk);
          });
          response.on('error', (error) => reject(scopeError(FishErrorCode.HYPERVISOR_FAILED, `${method} ${path}: ${error.message}`, error, true)));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: { data?: unknown; message?: string; errors?: Record<string, string> } | undefined;
            try {
              parsed = text.length > 0 ? (JSON.parse(text) as typeof parsed) : undefined;
            } catch {
              parsed = undefined;
            }
            const status = response.statusCode ?? 0;
            if (status < 200 || status > 299) {
              // Older PVE puts the reason only in the status line; newer versions also in the body.
              const reason = [response.statusMessage, parsed?.message, parsed?.errors ? JSON.stringify(parsed.errors) : undefined].filter((part) => part && part.length > 0).join(' — ');
              reject(
                scopeError(
                  status === 401 || status === 403 ? FishErrorCode.AUTH_REQUIRED : FishErrorCode.HYPERVISOR_FAILED,
                  `${method} ${path} returned HTTP ${status}: ${reason || 'no reason given'}`,
                  undefined,
                  status >= 500,
                ),
              );
              return;
            }
            if (parsed === undefined || !('data' in parsed)) {
              reject(scopeError(FishErrorCode.HYPERVISOR_FAILED, `${method} ${path}: response is not a {"data": ...} envelope`));
              return;
            }
            resolve(parsed.data);
          });
        },
      );
      request.on('error', (error) =>
        reject(
          scopeError(
            FishErrorCode.HYPERVISOR_FAILED,
            combined.aborted ? `${method} ${path}: timed out or cancelled (${timeout.aborted ? 'request timeout' : 'verb timeout'})` : `${method} ${path}: ${error.message}`,
            error,
            true,
          ),
        ),
      );
      if (payload !== undefined) request.write(payload);
      request.end();
    });
  }

  async vmStatus(node: string, vmid: number, signal: AbortSignal): Promise<VmStatus> {
    const data = await this.call('GET', `/nodes/${encodeURIComponent(node)}/qemu/${vmid}/status/current`, signal);
    const parsed = VmStatusSchema.safeParse(data);
    if (!parsed.success) throw scopeError(FishErrorCode.HYPERVISOR_FAILED, 'status/current: unexpected response shape');
    return parsed.data;
  }

  async vmConfig(node: string, vmid: number, signal: AbortSignal): Promise<unknown> {
    return this.call('GET', `/nodes/${encodeURIComponent(node)}/qemu/${vmid}/config`, signal);
  }

  async recentTasks(node: string, vmid: number, signal: AbortSignal): Promise<unknown> {
    return this.call('GET', `/nodes/${encodeURIComponent(node)}/tasks?vmid=${vmid}&limit=10`, signal);
  }

  /** POSTs a power action and returns its UPID (validated against the real format). */
  async powerAction(node: string, vmid: number, action: 'start' | 'stop' | 'reset' | 'shutdown', signal: AbortSignal, parameters: Record<string, string> = {}): Promise<string> {
    const data = await this.call('POST', `/nodes/${encodeURIComponent(node)}/qemu/${vmid}/status/${action}`, signal, parameters);
    if (typeof data !== 'string' || !UPID_PATTERN.test(data)) throw scopeError(FishErrorCode.HYPERVISOR_FAILED, `status/${action}: expected a UPID, got ${JSON.stringify(data)?.slice(0, 120)}`);
    return data;
  }

  async taskStatus(node: string, upid: string, signal: AbortSignal): Promise<TaskStatus> {
    const data = await this.call('GET', `/nodes/${encodeURIComponent(node)}/tasks/${encodeURIComponent(upid)}/status`, signal);
    const parsed = TaskStatusSchema.safeParse(data);
    if (!parsed.success) throw scopeError(FishErrorCode.HYPERVISOR_FAILED, 'task status: unexpected response shape');
    return parsed.data as TaskStatus;
  }

  /**
   * Polls a task until it stops. A 200 on the POST is not success: the task may still fail (an
   * authorisation check at execution time, a lock). Succeeds only on `OK` or `WARNINGS: n`.
   */
  async waitForTask(node: string, upid: string, signal: AbortSignal, pollMs = 500): Promise<TaskStatus> {
    for (;;) {
      const status = await this.taskStatus(node, upid, signal);
      if (status.status === 'stopped') {
        if (!taskSucceeded(status.exitstatus)) throw scopeError(FishErrorCode.HYPERVISOR_FAILED, `task ${upid} failed: ${status.exitstatus ?? 'no exit status'}`);
        return status;
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          clearTimeout(timer);
          reject(scopeError(FishErrorCode.HYPERVISOR_FAILED, `gave up waiting for task ${upid} (timeout or cancelled); it may still finish on the host`, signal.reason, true));
        };
        const timer = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, pollMs);
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}
