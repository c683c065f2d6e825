import { PolicyEngine } from './engine.ts';
import { loadPolicyFile } from './load.ts';

/** Builds the engine from a service's parsed config: the policy file plus the TOOLS_* overrides. */
export async function policyFromConfig(config: { POLICY_FILE?: string | undefined; TOOLS_ENABLED?: string[] | undefined; TOOLS_ASK?: string[] | undefined }): Promise<PolicyEngine> {
  const file = config.POLICY_FILE ? await loadPolicyFile(config.POLICY_FILE) : undefined;
  return new PolicyEngine(file, { enabled: config.TOOLS_ENABLED, ask: config.TOOLS_ASK });
}
