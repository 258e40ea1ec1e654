import { describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../../approval/approval-token.js';
import type { LLMProvider } from '../../contracts/llm-provider.js';
import type { IncidentRecord } from '../../contracts/records.js';
import { memoryBundleWriter } from '../../test-support/fixtures.js';
import { testStageContext } from '../../test-support/stage-context.js';
import { NotificationStage } from './notifications.js';
import { UnknownIncidentStage } from './unknown-incidents.js';

const incident = { id: 'inc_1', host: 'penny', service: 'mystery', patternId: 'UNKNOWN', candidates: [], evidence: ['e1', 'e2'] } as unknown as IncidentRecord;
const classification = { patternId: 'UNKNOWN', confidence: 0, method: 'none' as const, reason: 'no candidate', llmHint: 'oom-killer', llmCalls: 0 };

function stage(writer = memoryBundleWriter(), draftPatterns?: { llm: LLMProvider }) {
  const context = testStageContext();
  const notifications = new NotificationStage(context, { signer: new ApprovalSigner('unknown-test-secret-0123456789abcde'), publicUrl: 'https://x.test' });
  return { context, writer, stage: new UnknownIncidentStage(context, notifications, { writer, ...(draftPatterns ? { draftPatterns } : {}), signal: () => new AbortController().signal }) };
}

describe('UNKNOWN incident stage', () => {
  it('stores the bundle through the injected writer and names where in the notification', async () => {
    const { context, writer, stage: unknown } = stage();
    await unknown.handle(incident, classification);
    expect(writer.bundles).toEqual([expect.objectContaining({ incident, evidence: ['e1', 'e2'], classification: { method: 'none', reason: 'no candidate', llmHint: 'oom-killer' } })]);
    const sent = context.notifier.sent[0];
    expect(sent).toMatchObject({ type: 'notify', message: { kind: 'unknown-incident', title: 'UNKNOWN on penny/mystery', priority: 'low' } });
    expect(sent?.type === 'notify' && sent.message.body).toContain('Bundle: memory:inc_1');
    expect(sent?.type === 'notify' && sent.message.body).toContain('resembles oom-killer (advisory only)');
    expect(context.counters.get('unknownIncidents')).toBe(1);
  });

  it('keeps the bundle location when drafting a pattern fails, and notifies anyway', async () => {
    const failingLlm = {
      specificationVersion: 'v1',
      name: 'broken',
      async complete() {
        throw new Error('model unavailable');
      },
    } as unknown as LLMProvider;
    const { context, writer, stage: unknown } = stage(memoryBundleWriter(), { llm: failingLlm });
    await unknown.handle(incident, classification);
    expect(writer.drafts.size).toBe(0);
    const sent = context.notifier.sent[0];
    expect(sent?.type === 'notify' && sent.message.body).toContain('Bundle: memory:inc_1\n');
  });
});
