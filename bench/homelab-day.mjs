// A deterministic day of homelab logs with bursts, generated rather than stored (a real day is
// ~100 MB). The shapes come from the demo log and the catalog samples: traefik access lines,
// AdGuard, fail2ban noise, cron, Postgres/Redis chatter, warn/error noise that no pattern explains,
// floods (a crash-looping container logging the same error for minutes), and real incidents.

/** Mulberry32: small, fast, seeded. */
export function rng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTS = ['penny', 'lancelot', 'galahad'];
const NOISE = [
  [
    'traefik',
    'info',
    (r) =>
      `192.168.1.${Math.floor(r() * 200)} - - "GET /api/health HTTP/2.0" 200 ${Math.floor(r() * 9000)} "-" "-" ${Math.floor(r() * 1e5)} "homepage@docker" "http://172.18.0.7:3000" ${Math.floor(r() * 40)}ms`,
  ],
  ['adguardhome', 'info', (r) => `[info] dnsproxy: starting upstream exchange with https://dns.quad9.net:443/dns-query id=${Math.floor(r() * 1e6)}`],
  ['fail2ban', 'warn', (r) => `fail2ban.filter [812]: INFO [sshd] Found 45.148.10.${Math.floor(r() * 250)} - ${new Date().toISOString().slice(0, 10)}`],
  ['cron', 'info', () => 'pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)'],
  ['postgres', 'info', (r) => `LOG:  checkpoint complete: wrote ${Math.floor(r() * 300)} buffers (1.${Math.floor(r() * 9)}%); 0 WAL file(s) added`],
  ['redis', 'info', (r) => `1:M 20 Apr 2026 06:4${Math.floor(r() * 9)}:03.112 * Background saving terminated with success`],
  ['beszel-agent', 'info', () => 'INFO Sending stats to hub'],
  ['grafana', 'warn', (r) => `logger=context userId=1 orgId=1 uname=admin t=2026-04-20T06:40:03 level=warn msg="Request took longer than 2s" path=/api/ds/query duration=${2 + Math.floor(r() * 3)}s`],
  ['n8n', 'error', (r) => `Workflow execution ${Math.floor(r() * 1e5)} failed: ETIMEDOUT while calling https://api.example.invalid`],
  ['homepage', 'error', () => '[httpProxy] Error calling https://api.openweathermap.org/data/2.5/weather: getaddrinfo ENOTFOUND api.openweathermap.org'],
];
const FLOODS = [
  ['immich-server', 'error', () => 'Error: connect ECONNREFUSED 172.18.0.12:5432 at TCPConnectWrap.afterConnect [as oncomplete]'],
  ['paperless', 'error', () => '[ERROR] [paperless.tasks] Consumption failed: database is locked'],
];

/**
 * Yields `{ time, host, service, level, message }` for 24 hours starting at `start`:
 * `baseRatePerSecond` noise lines per second, plus `floods` bursts and `incidents` incident lines
 * (taken from `incidentLines`: catalog `samples.match` lines with their host/service/level).
 */
export function* homelabDay({ seed = 42, start = Date.UTC(2026, 3, 20), baseRatePerSecond = 5, floods = 12, floodSeconds = 120, floodRate = 40, incidentLines = [], incidents = 20 } = {}) {
  const r = rng(seed);
  const floodStarts = Array.from({ length: floods }, () => Math.floor(r() * 86_000));
  const incidentTimes = Array.from({ length: incidents }, () => Math.floor(r() * 86_000)).sort((a, b) => a - b);
  let nextIncident = 0;
  for (let second = 0; second < 86_400; second++) {
    const base = start + second * 1000;
    const count = Math.floor(baseRatePerSecond * 2 * r()) + (r() < 0.5 ? 0 : 1);
    for (let index = 0; index < count; index++) {
      const [service, level, message] = NOISE[Math.floor(r() * NOISE.length)];
      yield { time: base + Math.floor(r() * 1000), host: HOSTS[Math.floor(r() * HOSTS.length)], service, level, message: message(r) };
    }
    for (const [floodIndex, floodStart] of floodStarts.entries()) {
      if (second >= floodStart && second < floodStart + floodSeconds) {
        const [service, level, message] = FLOODS[floodIndex % FLOODS.length];
        for (let index = 0; index < floodRate; index++) yield { time: base + index, host: HOSTS[floodIndex % HOSTS.length], service, level, message: message(r) };
      }
    }
    while (nextIncident < incidentTimes.length && incidentTimes[nextIncident] === second && incidentLines.length > 0) {
      const line = incidentLines[nextIncident % incidentLines.length];
      // Incidents repeat a few times, as real failures do (a monitor retries every minute).
      for (let repeat = 0; repeat < 3; repeat++) yield { ...line, time: base + repeat * 20_000 + repeat };
      nextIncident++;
    }
  }
}
