import type { IncidentRecord } from '../../contracts/records.js';
import { describeError } from '../../errors.js';
import { redactSecrets } from '../../util/redact.js';
import type { BudgetGuard } from '../budget-guard.js';
import type { Classification } from '../classifier.js';
import { draftPattern } from '../pattern-draft.js';
import type { LLMProvider } from '../../contracts/llm-provider.js';
import type { StageContext } from './context.js';
import { BUNDLE_NOT_STORED, bundleNotWritten, draftStored, unknownIncident } from './messages.js';
import type { NotificationStage } from './notifications.js';

/** What fish knows about an incident no pattern explains, kept for the human who writes the pattern. */
export interface UnknownBundle {
  incident: IncidentRecord;
  classification: { method: Classification['method']; reason: string; llmHint: string | null };
  candidates: string[];
  evidence: string[];
  writtenAt: string;
}

/**
 * Stores UNKNOWN bundles (and drafted patterns) where a human finds them. Injected by the app:
 * core does no file I/O (fish writes them as files in its data folder).
 */
export interface UnknownBundleWriter {
  /** Stores the bundle; returns where it is (a path, a URL), shown in the notification. */
  writeBundle(bundle: UnknownBundle): Promise<string>;
  /** Stores a drafted pattern beside its bundle; returns where it is. */
  writeDraft?(incidentId: string, yaml: string): Promise<string>;
}

export interface UnknownIncidentOptions {
  writer?: UnknownBundleWriter;
  /** With an LLM: draft a pattern beside each bundle, for review. */
  draftPatterns?: { llm: LLMProvider; budget?: BudgetGuard };
  /** Cancels a draft in progress when the engine stops. */
  signal: () => AbortSignal;
}

/** An UNKNOWN incident: store its bundle (and a draft), then tell the human, whatever the storage did. */
export class UnknownIncidentStage {
  constructor(
    private readonly context: StageContext,
    private readonly notifications: NotificationStage,
    private readonly options: UnknownIncidentOptions,
  ) {}

  async handle(incident: IncidentRecord, classification: Classification): Promise<void> {
    this.context.counters.add('unknownIncidents');
    const location = await this.store({
      incident,
      classification: { method: classification.method, reason: classification.reason, llmHint: classification.llmHint ?? null },
      candidates: incident.candidates,
      evidence: incident.evidence,
      writtenAt: this.context.now(),
    });
    await this.notifications.escalate(unknownIncident(incident, classification.llmHint, location), { incidentId: incident.id });
  }

  /** The notification matters more than the bundle: a full or read-only disk (itself a likely unknown incident) must not silence it. */
  private async store(bundle: UnknownBundle): Promise<string> {
    const { writer, draftPatterns } = this.options;
    if (!writer) return BUNDLE_NOT_STORED;
    let location: string;
    try {
      location = await writer.writeBundle(bundle);
    } catch (error) {
      this.context.fail(error);
      return bundleNotWritten(redactSecrets(describeError(error)));
    }
    if (draftPatterns && writer.writeDraft) {
      try {
        const draft = await draftPattern({ ...draftPatterns, signal: this.options.signal() }, bundle.incident);
        if (draft) location += draftStored(await writer.writeDraft(bundle.incident.id, draft.yaml), draft.valid);
      } catch (error) {
        this.context.logger.warn(`no draft pattern for ${bundle.incident.id}: ${describeError(error)}`);
      }
    }
    return location;
  }
}
