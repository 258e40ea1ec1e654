import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';

/**
 * A Proxmox VE API test server (protocols.md §6), HTTPS on loopback with a self-signed certificate
 * generated at start, like pveproxy's `pve-ssl.pem`. It speaks the parts of the API a VM power
 * client uses, with the real shapes:
 *  - `{"data": ...}` envelope; errors as a non-2xx status with the message in the reason phrase and
 *    in `{"data":null,"message":...}` (PVE >= 8.x / http-server 5.2);
 *  - `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET` (no CSRF token for API tokens); a bad or
 *    missing token is 401 after a delay (pveproxy waits ~3 s);
 *  - `GET /nodes/{node}/qemu/{vmid}/status/current`;
 *  - `POST /nodes/{node}/qemu/{vmid}/status/{start|stop|reset|shutdown|reboot}` returning a UPID in
 *    the real `UPID:node:PID:PSTART:STARTTIME:type:id:user:` format; `reset`/`reboot` on a VM that
 *    is not running fail at once with HTTP 500 "VM <id> not running";
 *  - `GET /nodes/{node}/tasks/{upid}/status` (`running`, then `stopped` with `exitstatus`);
 *  - `GET /nodes/{node}/tasks?vmid=` (recent tasks).
 * Tasks take a few polls to finish; failures and hangs are scriptable.
 */

export type ProxmoxVmState = 'running' | 'stopped';

export interface ProxmoxServerOptions {
  node?: string;
  vmid?: number;
  vmName?: string;
  /** `user@realm!tokenid` @default 'breakglass@pve!power' */
  tokenId?: string;
  /** @default a fixed UUID */
  tokenSecret?: string;
  initialState?: ProxmoxVmState;
  /** How many status polls a task reports `running` before it stops. @default 2 */
  taskPolls?: number;
  /** Delay before a 401, like pveproxy's. @default 3000 */
  authFailureDelayMs?: number;
}

export interface ProxmoxTask {
  upid: string;
  type: string;
  id: string;
  user: string;
  starttime: number;
  pollsLeft: number;
  status: 'running' | 'stopped';
  exitstatus?: string;
  /** The state the VM ends in when the task succeeds. */
  effect?: ProxmoxVmState;
  hang: boolean;
}

export interface RecordedProxmoxRequest {
  method: string;
  path: string;
  authorized: boolean;
  body: string;
}

export interface ProxmoxTestServer {
  url: string;
  host: string;
  port: number;
  node: string;
  vmid: number;
  tokenId: string;
  tokenSecret: string;
  /** SHA-256 of the server certificate, `AB:CD:...` as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint256: string;
  certificatePem: string;
  readonly vmState: ProxmoxVmState;
  setVmState(state: ProxmoxVmState): void;
  /** The next task of this type (`qmstop`, `qmstart`, `qmreset`...) ends with this exit status. */
  failNextTask(type: string, exitstatus: string): void;
  /** The next task of this type never finishes (a wedged host). */
  hangNextTask(type: string): void;
  readonly tasks: ProxmoxTask[];
  readonly requests: RecordedProxmoxRequest[];
  close(): Promise<void>;
}

const ACTION_TYPES: Record<string, string> = { start: 'qmstart', stop: 'qmstop', reset: 'qmreset', shutdown: 'qmshutdown', reboot: 'qmreboot' };

function hex(value: number, width: number): string {
  return value.toString(16).toUpperCase().padStart(width, '0');
}

export async function startProxmoxServer(options: ProxmoxServerOptions = {}): Promise<ProxmoxTestServer> {
  const node = options.node ?? 'pve1';
  const vmid = options.vmid ?? 102;
  const tokenId = options.tokenId ?? 'breakglass@pve!power';
  const tokenSecret = options.tokenSecret ?? '5f0c6a2e-8b1d-4c3a-9e7f-2d4b6a8c0e1f';
  const taskPolls = options.taskPolls ?? 2;
  const authDelay = options.authFailureDelayMs ?? 3000;
  const pems = await generate([{ name: 'commonName', value: node }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: node },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  } as Parameters<typeof generate>[1]);
  const fingerprint256 = new X509Certificate(pems.cert).fingerprint256;

  let vmState: ProxmoxVmState = options.initialState ?? 'running';
  let bootedAt = Math.floor(Date.now() / 1000) - 3600;
  const tasks: ProxmoxTask[] = [];
  const requests: RecordedProxmoxRequest[] = [];
  const failures = new Map<string, string>();
  const hangs = new Set<string>();
  let pid = 0x000a1b2c;
  const pstart = 0x0123abcd;

  const send = (response: ServerResponse, status: number, body: unknown, reason?: string) => {
    const text = JSON.stringify(body);
    response.writeHead(status, reason ?? (status === 200 ? 'OK' : 'Error'), {
      'content-type': 'application/json;charset=UTF-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'max-age=0',
    });
    response.end(text);
  };
  const fail = (response: ServerResponse, status: number, message: string, errors?: Record<string, string>) =>
    send(response, status, { data: null, message: `${message}\n`, ...(errors ? { errors } : {}) }, message);

  const authorized = (request: IncomingMessage): boolean => {
    const header = request.headers.authorization ?? '';
    const match = /(?:^|\s)PVEAPIToken(?:=| )([^;]*)/.exec(header);
    if (!match?.[1]) return false;
    let value: string;
    try {
      value = decodeURIComponent(match[1]);
    } catch {
      return false;
    }
    return value === `${tokenId}=${tokenSecret}`;
  };

  const newTask = (type: string): ProxmoxTask => {
    pid += 1;
    const starttime = Math.floor(Date.now() / 1000);
    const upid = `UPID:${node}:${hex(pid, 8)}:${hex(pstart, 8)}:${hex(starttime, 8)}:${type}:${vmid}:${tokenId}:`;
    const task: ProxmoxTask = { upid, type, id: String(vmid), user: tokenId, starttime, pollsLeft: taskPolls, status: 'running', hang: hangs.delete(type) };
    tasks.push(task);
    return task;
  };

  const finishTask = (task: ProxmoxTask) => {
    task.status = 'stopped';
    const failure = failures.get(task.type);
    if (failure !== undefined) {
      failures.delete(task.type);
      task.exitstatus = failure;
      return;
    }
    if (task.type === 'qmstart' && vmState === 'running') {
      task.exitstatus = `VM ${vmid} already running`;
      return;
    }
    task.exitstatus = 'OK';
    if (task.effect) {
      vmState = task.effect;
      if (vmState === 'running') bootedAt = Math.floor(Date.now() / 1000);
    }
    if (task.type === 'qmreset') bootedAt = Math.floor(Date.now() / 1000);
  };

  const taskJson = (task: ProxmoxTask) => {
    const [user, tokenid] = task.user.split('!');
    return {
      status: task.status,
      ...(task.status === 'stopped' ? { exitstatus: task.exitstatus } : {}),
      type: task.type,
      id: task.id,
      user,
      tokenid,
      node,
      pid: Number.parseInt(task.upid.split(':')[2] ?? '0', 16),
      pstart,
      starttime: task.starttime,
      upid: task.upid,
    };
  };

  const handle = (request: IncomingMessage, response: ServerResponse, body: string) => {
    const url = new URL(request.url ?? '/', 'https://localhost');
    const ok = authorized(request);
    requests.push({ method: request.method ?? 'GET', path: url.pathname + url.search, authorized: ok, body });
    if (!url.pathname.startsWith('/api2/json/')) return fail(response, 501, `Unexpected content type / path`);
    if (!ok) {
      setTimeout(() => fail(response, 401, 'authentication failure'), authDelay);
      return;
    }
    const parts = url.pathname
      .slice('/api2/json/'.length)
      .split('/')
      .map((part) => decodeURIComponent(part));
    if (parts[0] !== 'nodes' || parts[1] === undefined) return fail(response, 501, `Method '${request.method} ${url.pathname}' not implemented`);
    if (parts[1] !== node) return fail(response, 595, `no such node '${parts[1]}'`);
    const method = request.method ?? 'GET';

    if (parts[2] === 'qemu') {
      if (parts[3] !== String(vmid)) return fail(response, 500, `Configuration file 'nodes/${node}/qemu-server/${parts[3]}.conf' does not exist`);
      if (method === 'GET' && parts[4] === 'status' && parts[5] === 'current' && parts.length === 6) {
        const running = vmState === 'running';
        return send(response, 200, {
          data: {
            vmid,
            name: options.vmName ?? 'devvm',
            status: vmState,
            qmpstatus: vmState,
            uptime: running ? Math.floor(Date.now() / 1000) - bootedAt : 0,
            cpus: 4,
            maxmem: 8 * 1024 ** 3,
            mem: running ? 3 * 1024 ** 3 : 0,
            ...(running ? { pid: 4242, 'running-qemu': '9.2.0', 'running-machine': 'pc-i440fx-9.2+pve1' } : {}),
            ha: { managed: 0 },
          },
        });
      }
      if (method === 'POST' && parts[4] === 'status' && parts[5] !== undefined && parts.length === 6 && ACTION_TYPES[parts[5]]) {
        const action = parts[5];
        if ((action === 'reset' || action === 'reboot') && vmState !== 'running') return fail(response, 500, `VM ${vmid} not running`);
        const task = newTask(ACTION_TYPES[action]!);
        if (action === 'start') task.effect = 'running';
        if (action === 'stop' || action === 'shutdown') task.effect = 'stopped';
        return send(response, 200, { data: task.upid });
      }
      return fail(response, 501, `Method '${method} ${url.pathname}' not implemented`);
    }

    if (parts[2] === 'tasks') {
      if (method === 'GET' && parts.length === 3) {
        const filter = url.searchParams.get('vmid');
        const limit = Number(url.searchParams.get('limit') ?? '50');
        const list = tasks
          .filter((task) => filter === null || task.id === filter)
          .slice(-limit)
          .reverse();
        return send(response, 200, { data: list.map((task) => ({ ...taskJson(task), ...(task.status === 'stopped' ? { endtime: task.starttime + 1, status: task.exitstatus } : {}) })) });
      }
      if (method === 'GET' && parts.length === 5 && parts[4] === 'status') {
        const task = tasks.find((candidate) => candidate.upid === parts[3]);
        if (!task) return fail(response, 400, 'Parameter verification failed.', { upid: 'no such task' });
        if (task.status === 'running' && !task.hang) {
          if (task.pollsLeft <= 0) finishTask(task);
          else task.pollsLeft -= 1;
        }
        return send(response, 200, { data: taskJson(task) });
      }
    }
    return fail(response, 501, `Method '${method} ${url.pathname}' not implemented`);
  };

  const server = createServer({ key: pems.private, cert: pems.cert }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handle(request, response, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `https://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    node,
    vmid,
    tokenId,
    tokenSecret,
    fingerprint256,
    certificatePem: pems.cert,
    get vmState() {
      return vmState;
    },
    setVmState(state) {
      vmState = state;
    },
    failNextTask(type, exitstatus) {
      failures.set(type, exitstatus);
    },
    hangNextTask(type) {
      hangs.add(type);
    },
    tasks,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
