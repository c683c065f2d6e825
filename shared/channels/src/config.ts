import { z } from 'zod';

/** Who may talk to the bot in a direct message (`<PLATFORM>_DM_POLICY`). */
export const DmPolicy = z.enum(['pairing', 'allowlist', 'open', 'disabled']);
export type DmPolicy = z.infer<typeof DmPolicy>;

/** `<PLATFORM>_DM_POLICY`: `pairing` unless set (empty counts as unset, as in a k8s config.env line `X=`). */
export const dmPolicyEnv = z.preprocess((v) => (v === '' ? undefined : v), DmPolicy.optional()).transform((v): DmPolicy => v ?? 'pairing');

/**
 * Who may talk to the bot in a group (`<PLATFORM>_GROUP_POLICY`): `allowed` (default) — a sender
 * the DM rules would let in (listed in ALLOW_FROM, or paired; everyone under DM policy `open`);
 * `open` — anyone in the group; `disabled` — groups are ignored.
 */
export const GroupPolicy = z.enum(['allowed', 'open', 'disabled']);
export type GroupPolicy = z.infer<typeof GroupPolicy>;

/** `<PLATFORM>_GROUP_POLICY`: `allowed` unless set. */
export const groupPolicyEnv = z.preprocess((v) => (v === '' ? undefined : v), GroupPolicy.optional()).transform((v): GroupPolicy => v ?? 'allowed');

/** A boolean environment variable: true/false, 1/0, yes/no; empty or unset gives `defaultValue`. */
export const envBool = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? defaultValue : v === 'true' || v === '1' || v === 'yes'));
