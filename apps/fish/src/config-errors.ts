import { FishError, FishErrorCode, errorMessage, type FishErrorCode as Code } from '@fish-sre/core';
import { fieldPath, type FishConfig } from './config.js';

/** How the config names a plugin (`sources[0]`, `notifier` ...). */
export interface PluginReference {
  type: string;
  package?: string | undefined;
  name?: string | undefined;
  options: Record<string, unknown>;
}

/** Error codes that mean "the config file names or sets something wrong": `fish-sre` exits 78 (EX_CONFIG). */
export const CONFIG_ERROR_CODES: ReadonlySet<string> = new Set<Code>([
  FishErrorCode.CONFIG_INVALID,
  FishErrorCode.PLUGIN_UNKNOWN,
  FishErrorCode.PLUGIN_INVALID,
  FishErrorCode.PLUGIN_OPTIONS_INVALID,
  FishErrorCode.PLUGIN_VERSION_UNSUPPORTED,
]);

/** The exit status for an error that stops `fish-sre`: 78 for a config error, 1 otherwise. */
export function exitStatusOf(error: unknown): number {
  return FishError.isInstance(error) && CONFIG_ERROR_CODES.has(error.code) ? 78 : 1;
}

function where(config: FishConfig, path: ReadonlyArray<PropertyKey>): string {
  return config.locate?.(path) ?? config.configPath;
}

/** A problem with one field found after loading (a missing folder): file, line, path, expectation. */
export function configError(config: FishConfig, path: ReadonlyArray<PropertyKey>, message: string, cause?: unknown): FishError {
  return new FishError({
    code: FishErrorCode.CONFIG_INVALID,
    message: errorMessage('config', `${where(config, path)}: ${fieldPath(path)}: ${message}`),
    cause,
    details: { file: config.configPath, path: fieldPath(path) },
  });
}

/**
 * Puts the config file and line on a plugin's refusal: an unknown type or package at the `type`
 * (or `package`) key, each bad option at the option's own key. The code is kept; other errors
 * (a plugin that cannot start) pass through unchanged.
 */
export function pluginConfigError(config: FishConfig, at: ReadonlyArray<PropertyKey>, error: unknown): unknown {
  if (!FishError.isInstance(error) || !CONFIG_ERROR_CODES.has(error.code) || error.code === FishErrorCode.CONFIG_INVALID) return error;
  const reference = at.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key], config) as PluginReference | undefined;
  const body = error.message.replace(/^\[fish-sre\] \[[^\]]*\] /, '');
  if (error.code === FishErrorCode.PLUGIN_OPTIONS_INVALID) {
    const issues = (error.details['issues'] as Array<{ path: string[]; message: string }> | undefined) ?? [];
    if (issues.length > 0) {
      const lines = issues.map((issue) => {
        const path = [...at, 'options', ...issue.path.slice(1).map((part) => (/^\d+$/.test(part) ? Number(part) : part))];
        return `${where(config, path)}: ${fieldPath(path)}: ${issue.message}`;
      });
      const plugin = reference?.package ? `${reference.package} ${reference.type}` : (reference?.type ?? 'plugin');
      return new FishError({
        code: error.code,
        message: errorMessage('config', `${config.configPath}: invalid options for ${plugin}:\n  ${lines.join('\n  ')}`),
        cause: error,
        details: { ...error.details, file: config.configPath },
      });
    }
  }
  const key = [...at, reference?.package !== undefined ? 'package' : 'type'];
  return new FishError({
    code: error.code,
    message: errorMessage('config', `${where(config, key)}: ${fieldPath(key)}: ${body}`),
    cause: error,
    details: { ...error.details, file: config.configPath, path: fieldPath(key) },
  });
}
