import { definePlugin } from '@fish-sre/core';
import { version } from '../package.json';
import { AlertmanagerReceiverOptionsSchema, type AlertmanagerReceiverConfig } from './alertmanager-receiver.js';
import { createAlertmanagerSource } from './alertmanager-source.js';
import { PrometheusSourceOptionsSchema, createPrometheusSource, type PrometheusSourceConfig } from './prometheus-source.js';

// The shape of every plugin package's index.ts (re-exports, VERSION from package.json, the
// descriptors), written down in docs/plugin-authoring.md and checked by scripts/check-packages.mjs.
export {
  createPrometheusSource,
  PrometheusSourceOptionsSchema,
  prometheusInstantQuery,
  parseSampleValue,
  metricConditions,
  compare,
  type PrometheusSourceOptions,
  type PrometheusSourceConfig,
  type InstantQueryResult,
  type InstantSeries,
} from './prometheus-source.js';
export {
  createAlertmanagerReceiver,
  alertToEvent,
  AlertmanagerWebhookSchema,
  AlertmanagerReceiverOptionsSchema,
  type AlertmanagerReceiver,
  type AlertmanagerReceiverOptions,
  type AlertmanagerReceiverConfig,
  type AlertmanagerWebhook,
} from './alertmanager-receiver.js';
export { createAlertmanagerSource, type AlertmanagerSource } from './alertmanager-source.js';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

export const prometheusSourcePlugin = definePlugin({
  kind: 'source',
  type: 'prometheus',
  packageName: '@fish-sre/source-prom',
  version: VERSION,
  optionsSchema: PrometheusSourceOptionsSchema,
  create: (options, context) =>
    createPrometheusSource({ ...(options as PrometheusSourceConfig), name: context.name, catalog: context.catalog, fetch: context.fetch, logger: context.logger, clock: context.clock }),
});

export const alertmanagerSourcePlugin = definePlugin({
  kind: 'source',
  type: 'alertmanager',
  packageName: '@fish-sre/source-prom',
  version: VERSION,
  optionsSchema: AlertmanagerReceiverOptionsSchema,
  create: (options, context) => createAlertmanagerSource({ ...(options as AlertmanagerReceiverConfig), name: context.name, logger: context.logger, clock: context.clock }),
});
