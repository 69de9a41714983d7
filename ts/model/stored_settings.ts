/**
 * Settings stored in a safetensors checkpoint (its `__metadata__` entry `sotr_settings`): the Sotr.load options a
 * model needs beyond its weights (a training config's grids, sizes and thresholds, the dataset's class names and
 * category ids), so that the file alone loads the model as it was trained. `sotr convert --config --class-names`
 * writes them; Sotr.load applies them under the caller's own options (an option given wins; `useStoredSettings:
 * false` ignores them).
 */
import { CheckpointFormatError, SotrTypeError } from '../errors';
import { checkOptions } from '../options';
import { CONFIG_OVERRIDE_KEYS, type ConfigOverrides } from './config';

/** The metadata key of the stored settings. */
export const STORED_SETTINGS_KEY = 'sotr_settings';

const FORMAT_VERSION = 1;

/**
 * The safetensors metadata that stores `settings` (Sotr.load options of the model: any constant, `classNames`,
 * `cocoCategoryIds`), for writeSafetensors' `metadata`. The values are checked when a model loads.
 */
export function storedSettingsMetadata(settings: ConfigOverrides): Record<string, string> {
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) throw new SotrTypeError('storedSettingsMetadata: settings must be an object of Sotr.load options');
  checkOptions('storedSettingsMetadata', settings, CONFIG_OVERRIDE_KEYS);
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  return { [STORED_SETTINGS_KEY]: JSON.stringify({ version: FORMAT_VERSION, settings: defined }) };
}

/** The settings stored in a checkpoint's metadata, or null when there are none. */
export function readStoredSettings(metadata: Readonly<Record<string, string>> | null | undefined, file = 'the checkpoint'): ConfigOverrides | null {
  const text = metadata?.[STORED_SETTINGS_KEY];
  if (text === undefined) return null;
  const bad = (why: string): never => {
    throw new CheckpointFormatError(`${file}: its stored settings (metadata '${STORED_SETTINGS_KEY}') ${why}`, { details: { key: STORED_SETTINGS_KEY } });
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return bad(`are not JSON: ${(e as Error).message}`);
  }
  const d = doc as { version?: unknown; settings?: unknown };
  if (!d || typeof d !== 'object' || typeof d.settings !== 'object' || d.settings === null || Array.isArray(d.settings)) return bad('are not {"version", "settings": {...}}');
  if (d.version !== FORMAT_VERSION) return bad(`have version ${JSON.stringify(d.version)}, and this version of the library reads ${FORMAT_VERSION} (written by a newer one?)`);
  const unknown = Object.keys(d.settings).filter((k) => !(CONFIG_OVERRIDE_KEYS as readonly string[]).includes(k));
  if (unknown.length) return bad(`name ${unknown.map((k) => `'${k}'`).join(', ')}, not a setting of this version of the library (written by a newer one?)`);
  return d.settings as ConfigOverrides;
}

/**
 * Sotr.load's options over the stored settings: an option the caller gives (not undefined) wins. The stored category
 * ids belong to the stored class names: class names given without ids replace both (the ids of another dataset's
 * classes would otherwise be written as these classes' category_id).
 */
export function withStoredSettings<O extends object>(stored: ConfigOverrides | null, options: O): O {
  if (!stored) return options;
  const out: Record<string, unknown> = { ...stored };
  if ((options as ConfigOverrides).classNames !== undefined) delete out.cocoCategoryIds;
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as O;
}
