/**
 * Offline schema validation of Kubernetes manifests with the models of `kubernetes-models`
 * (core and built-in API groups), `@kubernetes-models/keda` and
 * `@kubernetes-models/prometheus-operator`: each model class carries the OpenAPI schema of its
 * kind compiled to a validator, so no cluster and no network is needed.
 *
 * What the validators check: types (a port given as a string, a list where an object belongs),
 * required fields, enums and formats. What they cannot: unknown fields, since the published
 * schemas allow additional properties (a misspelled optional field passes).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import * as admissionregistrationV1 from 'kubernetes-models/admissionregistration.k8s.io/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as autoscalingV1 from 'kubernetes-models/autoscaling/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as coreV1 from 'kubernetes-models/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as schedulingV1 from 'kubernetes-models/scheduling.k8s.io/v1';
import * as storageV1 from 'kubernetes-models/storage.k8s.io/v1';
import * as kedaV1alpha1 from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as monitoringV1 from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

/** A model class as the packages export it: static apiVersion/kind, and validate() that throws. */
interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}

/**
 * The API groups whose kinds can be validated. A kind outside these (or a custom resource
 * without a models package) is reported as unknown rather than passed unchecked.
 */
const GROUPS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  v1: coreV1,
  'apps/v1': appsV1,
  'autoscaling/v1': autoscalingV1,
  'autoscaling/v2': autoscalingV2,
  'batch/v1': batchV1,
  'networking.k8s.io/v1': networkingV1,
  'policy/v1': policyV1,
  'rbac.authorization.k8s.io/v1': rbacV1,
  'scheduling.k8s.io/v1': schedulingV1,
  'storage.k8s.io/v1': storageV1,
  'admissionregistration.k8s.io/v1': admissionregistrationV1,
  'keda.sh/v1alpha1': kedaV1alpha1,
  'monitoring.coreos.com/v1': monitoringV1,
};

/** The model class of `apiVersion`/`kind`, or undefined when there is none (unknown kind). */
export function modelFor(apiVersion: unknown, kind: unknown): ModelClass | undefined {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return undefined;
  const candidate = GROUPS[apiVersion]?.[kind];
  if (typeof candidate !== 'function') return undefined;
  // Only top-level kinds: their classes carry static apiVersion/kind (`ScaledObjectSpec` and
  // other nested types do not).
  const model = candidate as Partial<ModelClass>;
  return model.apiVersion === apiVersion && model.kind === kind ? (candidate as ModelClass) : undefined;
}

/** Problems of one manifest: unknown kind, schema violations, a missing name. Empty when valid. */
export function validateManifest(object: unknown): string[] {
  if (!object || typeof object !== 'object' || Array.isArray(object)) return ['not a Kubernetes object (expected a mapping)'];
  const o = object as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
  const Model = modelFor(o.apiVersion, o.kind);
  if (!Model) return [`unknown kind ${String(o.kind)} in apiVersion ${String(o.apiVersion)} (no schema to validate it against)`];
  const problems: string[] = [];
  if (typeof o.metadata?.name !== 'string' || o.metadata.name === '') problems.push('metadata.name is missing');
  try {
    new Model(object).validate();
  } catch (err) {
    problems.push((err as Error).message);
  }
  return problems;
}

/** `Kind/name: problem` for every invalid object of `objects`. */
export function validateManifests(objects: readonly unknown[]): string[] {
  return objects.flatMap((object) => {
    const o = object as { kind?: unknown; metadata?: { name?: unknown } } | null;
    return validateManifest(object).map((p) => `${String(o?.kind)}/${String(o?.metadata?.name)}: ${p}`);
  });
}

/**
 * The objects a kustomization lists under `resources`, read from the files themselves (folders
 * recursively), without kustomize: no patches, generators, name prefixes or namespaces applied.
 * Used to validate the sources where `kubectl kustomize` is not available; patches are partial
 * objects and are not read.
 */
export function kustomizationSources(dir: string): unknown[] {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources?: string[] };
  return (kustomization.resources ?? []).flatMap((entry) => {
    if (/^[a-z]+:\/\//i.test(entry)) throw new Error(`${dir}: remote resource ${entry} cannot be read offline`);
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return kustomizationSources(path);
    return parseAllDocuments(readFileSync(path, 'utf8'))
      .map((doc) => {
        if (doc.errors.length > 0) throw new Error(`${path}: invalid YAML: ${doc.errors[0]!.message}`);
        return doc.toJS() as unknown;
      })
      .filter((o) => o !== null);
  });
}

/** A Prometheus rule file's groups as the PrometheusRule the Prometheus Operator would load. */
export function asPrometheusRule(ruleFile: string, name: string): unknown {
  const { groups } = parse(readFileSync(ruleFile, 'utf8')) as { groups: unknown };
  return { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name, namespace: 'switchboard' }, spec: { groups } };
}

