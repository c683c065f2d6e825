/**
 * Renders the kustomize trees with `kubectl kustomize` and gives typed access to the parts of
 * the objects the deploy tests look at.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Whether `kubectl` is on PATH (it carries kustomize). */
export const HAS_KUBECTL = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

export type Labels = Record<string, string>;

export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Labels;
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string };
  procMount?: string;
}

export interface Probe {
  httpGet?: { path?: string; port?: string | number };
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string } } }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
  hostUsers?: boolean;
}

export interface Workload {
  kind: 'Deployment' | 'StatefulSet';
  metadata: Metadata;
  spec: {
    replicas?: number;
    selector: { matchLabels: Labels };
    template: { metadata: { labels: Labels }; spec: PodSpec };
  };
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec?: unknown;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface NetworkPolicyRule {
  to?: Array<{ ipBlock?: { cidr: string; except?: string[] }; podSelector?: unknown; namespaceSelector?: unknown }>;
  ports?: Array<{ protocol?: string; port?: number | string }>;
}

export interface NetworkPolicySpec {
  podSelector: { matchLabels?: Labels; matchExpressions?: unknown[] };
  policyTypes?: string[];
  egress?: NetworkPolicyRule[];
}

/** Runs `kubectl kustomize dir` and parses every document it prints. */
export function kustomize(dir: string): KubeObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir} printed invalid YAML: ${doc.errors[0]!.message}`);
    return doc.toJS() as KubeObject;
  });
}

/**
 * Renders an overlay with extra kustomize components, through a throwaway kustomization
 * (kustomize only accepts relative paths, and a component must be listed by a kustomization).
 */
export function kustomizeWithComponents(overlay: string, components: string[]): KubeObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'sb-kustomize-'));
  try {
    const lines = [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${relative(dir, overlay)}`,
      'components:',
      ...components.map((c) => `  - ${relative(dir, c)}`),
    ];
    writeFileSync(join(dir, 'kustomization.yaml'), `${lines.join('\n')}\n`);
    return kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function ofKind<T = KubeObject>(objects: KubeObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

export function workloads(objects: KubeObject[]): Workload[] {
  return objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet') as unknown as Workload[];
}

/** Whether every selector label is on `labels` (an empty selector selects everything). */
export function selects(selector: Labels | undefined, labels: Labels | undefined): boolean {
  return Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);
}

/** Where a ConfigMap/Secret is referenced by a container: envFrom, secretKeyRef, configMapKeyRef. */
export function referencedConfig(container: Container): { configMaps: string[]; secrets: string[] } {
  const configMaps: string[] = [];
  const secrets: string[] = [];
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) configMaps.push(from.configMapRef.name);
    if (from.secretRef) secrets.push(from.secretRef.name);
  }
  for (const env of container.env ?? []) {
    if (env.valueFrom?.configMapKeyRef) configMaps.push(env.valueFrom.configMapKeyRef.name);
    if (env.valueFrom?.secretKeyRef) secrets.push(env.valueFrom.secretKeyRef.name);
  }
  return { configMaps, secrets };
}
