import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { html, raw } from 'hono/html';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { FishError, FishErrorCode, type ApprovalSigner, type AuditStore, type Decision, type FishEngine, type Logger, type ProposalRecord } from '@fish-sre/core';
import { decisionHttpStatus } from './decision-http.js';
import { createTrustedPeers } from './trusted-peers.js';

export interface ApprovalServerOptions {
  engine: FishEngine;
  audit: AuditStore;
  signer: ApprovalSigner;
  /** Browser origins allowed to send decisions (the ntfy web app). Requests without Origin (the phone app) are allowed. */
  corsOrigins: string[];
  /** Header carrying the user identity from the edge proxy, honoured only from `trustedProxies`. */
  identityHeader?: string;
  /** Addresses or CIDR ranges (IPv4, IPv6) of the edge proxies; compared as addresses, not strings. */
  trustedProxies?: string[];
  clock?: { now(): number };
  /** Where internal errors go (with a reference); the client only ever sees the reference. */
  logger?: Logger;
}

type Bindings = { incoming: IncomingMessage };

const PAGE_STYLE = `body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:16px;background:#0f172a;color:#e2e8f0}main{max-width:40rem;margin:auto}
h1{font-size:1.3rem}code,pre{background:#1e293b;color:#f8fafc;border-radius:6px}pre{padding:8px;overflow:auto;white-space:pre-wrap;word-break:break-word}
button{font-size:1rem;min-height:44px;min-width:44px;padding:0 20px;border:0;border-radius:8px;margin:4px;color:#fff}
.approve{background:#15803d}.deny{background:#b91c1c}.status{padding:2px 8px;border-radius:6px;background:#334155}dt{color:#94a3b8}`;

function page(title: string, body: unknown) {
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title}</title><style>${raw(PAGE_STYLE)}</style></head><body><main>${body}</main></body></html>`;
}

/**
 * The approval endpoint, on Hono (small, web-standard Request/Response, runs on Node through
 * @hono/node-server). GET pages never change state — link previews and prefetchers follow GETs —
 * only POST decides, and the token is checked before anything else.
 */
export function createApprovalApp(options: ApprovalServerOptions): Hono<{ Bindings: Bindings }> {
  const app = new Hono<{ Bindings: Bindings }>();
  const allowedOrigins = new Set(options.corsOrigins.map((origin) => origin.replace(/\/+$/, '')));
  const trusted = createTrustedPeers(options.trustedProxies ?? []);

  app.use('*', async (c, next) => {
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-store');
    c.header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      const selfOrigin = new URL(c.req.url).origin;
      if (!allowedOrigins.has(origin) && origin !== selfOrigin) {
        return c.json({ error: `origin ${origin} is not allowed` }, 403);
      }
      c.header('Access-Control-Allow-Origin', origin);
      c.header('Vary', 'Origin');
      if (c.req.method === 'OPTIONS') {
        c.header('Access-Control-Allow-Methods', 'POST, GET');
        c.header('Access-Control-Allow-Headers', 'Content-Type, Authorization');
        c.header('Access-Control-Max-Age', '600');
        return c.body(null, 204);
      }
    }
    await next();
  });

  /**
   * Who decided: the identity an edge proxy vouches for (only from a trusted proxy), else the
   * holder of the signed link. Never the User-Agent: any client can send any User-Agent.
   */
  const actorOf = (c: Context<{ Bindings: Bindings }>): string => {
    if (options.identityHeader && trusted(c.env?.incoming?.socket?.remoteAddress)) {
      const identity = c.req.header(options.identityHeader);
      if (identity && /^[\w.@+-]{1,120}$/.test(identity)) return identity;
    }
    return 'approval-link';
  };

  const wantsHtml = (c: Context) => (c.req.header('accept') ?? '').includes('text/html');

  app.get('/healthz', (c) => c.json({ ok: true }));

  for (const decision of ['approve', 'deny'] as const) {
    app.get(`/${decision}/:token`, async (c) => {
      const token = c.req.param('token');
      const check = options.signer.verify(token, decision, options.clock?.now() ?? Date.now());
      if (!check.ok) return c.html(page('fish', html`<h1>${check.message}</h1>`), check.reason === 'expired' ? 410 : check.reason === 'bad-signature' ? 403 : 400);
      const proposal = await options.audit.getProposal(check.claims.proposalId);
      if (!proposal) return c.html(page('fish', html`<h1>Unknown proposal</h1>`), 404);
      return c.html(
        page(
          `${decision} ${proposal.patternId}`,
          html`<h1>${decision === 'approve' ? 'Approve' : 'Deny'} ${proposal.patternId} on ${proposal.targetHost}?</h1>
${proposalDetails(proposal)}
<form method="post"><button class="${decision}" type="submit">${decision === 'approve' ? 'Approve and run the fix' : 'Deny'}</button></form>
<p><a href="../proposals/${proposal.id}" style="color:#93c5fd">Details</a></p>`,
        ),
      );
    });

    app.post(`/${decision}/:token`, async (c) => {
      const outcome = await options.engine.decide(c.req.param('token'), decision as Decision, actorOf(c));
      const body = { ok: outcome.ok, status: outcome.status, message: outcome.message, proposalId: outcome.proposal?.id };
      if (wantsHtml(c)) return c.html(page('fish', html`<h1>${outcome.message}</h1>${outcome.proposal ? proposalDetails(outcome.proposal) : ''}`), decisionHttpStatus(outcome));
      return c.json(body, decisionHttpStatus(outcome));
    });
  }

  app.get('/proposals/:id', async (c) => {
    const id = c.req.param('id');
    if (!/^prop_[a-f0-9]{20}$/.test(id)) return c.html(page('fish', html`<h1>Unknown proposal</h1>`), 404);
    const proposal = await options.audit.getProposal(id);
    if (!proposal) return c.html(page('fish', html`<h1>Unknown proposal</h1>`), 404);
    const incident = await options.audit.getIncident(proposal.incidentId);
    const execution = await options.audit.getExecutionByProposal(proposal.id);
    const data = { proposal, incident, execution };
    if (!wantsHtml(c)) return c.json(data);
    return c.html(
      page(
        proposal.patternId,
        html`<h1>${proposal.patternId} on ${proposal.targetHost}</h1>${proposalDetails(proposal)}
${incident ? html`<h2>Evidence</h2><pre>${incident.evidence.join('\n')}</pre><p>${incident.reason}</p>` : ''}
${
  execution
    ? html`<h2>Execution: <span class="status">${execution.status}</span></h2>${execution.steps.map(
        (step) => html`<h3>${step.verb} ${step.script}: exit ${String(step.exitCode)}${step.timedOut ? ' (timed out)' : ''}</h3><pre>${step.stdout}${step.stderr ? `\n${step.stderr}` : ''}</pre>`,
      )}`
    : ''
}`,
      ),
    );
  });

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  // Internal messages (paths, SQL, stack) stay in the log; the client gets a reference to find them.
  app.onError((error, c) => {
    // Nothing is decided that is not recorded: with the store away (or in a passing outage: a
    // worker restarting, a lock, a full disk), the tap changed nothing.
    if (FishError.hasCode(error, FishErrorCode.AUDIT_UNREACHABLE) || (FishError.hasCode(error, FishErrorCode.AUDIT_FAILED) && error.isRetryable)) {
      return c.json({ error: 'the audit store is unreachable right now: nothing was decided or run; tap again in a minute' }, 503, { 'retry-after': '30' });
    }
    const reference = randomBytes(6).toString('hex');
    options.logger?.error('approval endpoint: internal error', { reference, error: error.message, path: new URL(c.req.url).pathname.replace(/\/(approve|deny)\/.*/, '/$1/…') });
    return c.json({ error: `internal error (reference ${reference})` }, 500);
  });
  return app;
}

function proposalDetails(proposal: ProposalRecord) {
  return html`<dl><dt>Status</dt><dd><span class="status">${proposal.status}</span>${proposal.decidedBy ? ` by ${proposal.decidedBy}` : ''}${proposal.decidedAt ? ` at ${proposal.decidedAt}` : ''}</dd>
<dt>Confidence</dt><dd>${Math.round(proposal.confidence * 100)}%</dd><dt>Service</dt><dd>${proposal.service}</dd>
<dt>Expires</dt><dd>${proposal.expiresAt}</dd>${proposal.dryRun ? html`<dt>Mode</dt><dd>dry run</dd>` : ''}</dl>`;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startApprovalServer(options: ApprovalServerOptions & { host: string; port: number }): Promise<RunningServer> {
  const app = createApprovalApp(options);
  return new Promise((resolvePromise, reject) => {
    let server: ServerType;
    try {
      server = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, (info: AddressInfo) => {
        const host = info.address.includes(':') ? `[${info.address}]` : info.address;
        resolvePromise({
          url: `http://${host}:${info.port}`,
          port: info.port,
          close: () =>
            new Promise<void>((done) => {
              (server as { closeAllConnections?: () => void }).closeAllConnections?.();
              server.close(() => done());
            }),
        });
      });
      server.once('error', reject);
    } catch (error) {
      reject(error);
    }
  });
}
