import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxmoxServer, type ProxmoxTestServer } from './proxmox.js';

let server: ProxmoxTestServer;

/** A plain HTTPS client trusting the server's self-signed certificate as its CA (protocols.md §6). */
function call(method: string, path: string, authorization?: string): Promise<{ status: number; reason: string; body: { data?: unknown; message?: string; errors?: Record<string, string> } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: server.host, port: server.port, method, path: `/api2/json${path}`, ca: server.certificatePem, headers: authorization ? { authorization } : {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, reason: response.statusMessage ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  server = await startProxmoxServer({ authFailureDelayMs: 100, taskPolls: 1 });
});
afterAll(async () => {
  await server.close();
});

describe('startProxmoxServer', () => {
  const auth = () => `PVEAPIToken=${server.tokenId}=${server.tokenSecret}`;

  it('serves a self-signed certificate whose fingerprint it reports', () => {
    expect(server.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('answers 401 after a delay without a token or with a wrong one', async () => {
    const started = Date.now();
    expect((await call('GET', `/nodes/${server.node}/qemu/${server.vmid}/status/current`)).status).toBe(401);
    expect((await call('GET', `/nodes/${server.node}/qemu/${server.vmid}/status/current`, `PVEAPIToken=${server.tokenId}=wrong`)).status).toBe(401);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('wraps answers in {"data": ...} and runs power tasks with real UPIDs', async () => {
    const current = await call('GET', `/nodes/${server.node}/qemu/${server.vmid}/status/current`, auth());
    expect(current.body.data).toMatchObject({ status: 'running', vmid: server.vmid });
    const stop = await call('POST', `/nodes/${server.node}/qemu/${server.vmid}/status/stop`, auth());
    const upid = stop.body.data as string;
    expect(upid).toMatch(/^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmstop:102:breakglass@pve!power:$/);
    const first = await call('GET', `/nodes/${server.node}/tasks/${encodeURIComponent(upid)}/status`, auth());
    expect(first.body.data).toMatchObject({ status: 'running', type: 'qmstop', user: 'breakglass@pve', tokenid: 'power' });
    expect(first.body.data).not.toHaveProperty('exitstatus');
    const second = await call('GET', `/nodes/${server.node}/tasks/${encodeURIComponent(upid)}/status`, auth());
    expect(second.body.data).toMatchObject({ status: 'stopped', exitstatus: 'OK' });
    expect(server.vmState).toBe('stopped');
  });

  it('reports errors in the reason phrase and the body', async () => {
    server.setVmState('stopped');
    const reset = await call('POST', `/nodes/${server.node}/qemu/${server.vmid}/status/reset`, auth());
    expect(reset.status).toBe(500);
    expect(reset.reason).toBe('VM 102 not running');
    expect(reset.body).toMatchObject({ data: null, message: 'VM 102 not running\n' });
    const unknown = await call('GET', `/nodes/${server.node}/tasks/${encodeURIComponent('UPID:pve1:00000001:00000001:00000001:qmstop:102:x@pve!y:')}/status`, auth());
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual({ upid: 'no such task' });
  });

  it('lets a test script a failing task', async () => {
    server.setVmState('stopped');
    server.failNextTask('qmstart', 'start failed: QEMU exited with code 1');
    const upid = (await call('POST', `/nodes/${server.node}/qemu/${server.vmid}/status/start`, auth())).body.data as string;
    await call('GET', `/nodes/${server.node}/tasks/${encodeURIComponent(upid)}/status`, auth());
    const done = await call('GET', `/nodes/${server.node}/tasks/${encodeURIComponent(upid)}/status`, auth());
    expect(done.body.data).toMatchObject({ status: 'stopped', exitstatus: 'start failed: QEMU exited with code 1' });
    expect(server.vmState).toBe('stopped');
  });
});
