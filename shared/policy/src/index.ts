export { Decision, PolicyRule, PolicyFile, ToolSettingsRule, globToRegExp } from './rules.ts';
export { PolicyEngine } from './engine.ts';
export type { PolicyFileInput } from './rules.ts';
export type { PolicyContext, PolicyVerdict, PolicyOverrides, ToolSettings } from './engine.ts';
export { loadPolicyFile } from './load.ts';
export { policyFromConfig } from './from-config.ts';
