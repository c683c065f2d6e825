import { z } from 'zod';

/** Who may talk to the bot in a direct message (`<PLATFORM>_DM_POLICY`). */
export const DmPolicy = z.enum(['pairing', 'allowlist', 'open', 'disabled']);
export type DmPolicy = z.infer<typeof DmPolicy>;

/** `<PLATFORM>_DM_POLICY`: `pairing` unless set (empty counts as unset, as in a k8s config.env line `X=`). */
export const dmPolicyEnv = z.preprocess((v) => (v === '' ? undefined : v), DmPolicy.optional()).transform((v): DmPolicy => v ?? 'pairing');

/** A boolean environment variable: true/false, 1/0, yes/no; empty or unset gives `defaultValue`. */
export const envBool = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? defaultValue : v === 'true' || v === '1' || v === 'yes'));
