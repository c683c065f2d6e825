import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { issuesText, SwitchboardError } from '@switchboard/contracts';
import { PolicyFile } from './rules.ts';

/**
 * Reads a policy file (YAML or JSON). A file that does not parse or does not fit the schema stops
 * start-up with the file name and the path of each bad field.
 */
export async function loadPolicyFile(path: string): Promise<PolicyFile> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, 'utf8'));
  } catch (err) {
    throw new SwitchboardError('config_error', `policy file ${path} could not be read: ${(err as Error).message}`, { cause: err });
  }
  const parsed = PolicyFile.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = issuesText(parsed.error.issues);
    throw new SwitchboardError('config_error', `policy file ${path} is invalid: ${problems}`);
  }
  for (const [i, rule] of parsed.data.rules.entries()) {
    for (const [name, pattern] of Object.entries(rule.args ?? {})) {
      try {
        new RegExp(pattern);
      } catch {
        throw new SwitchboardError('config_error', `policy file ${path} is invalid: rules.${i}.args.${name}: not a regular expression`);
      }
    }
  }
  return parsed.data;
}
