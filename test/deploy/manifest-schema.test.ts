/**
 * Every Kubernetes manifest, validated offline against the Kubernetes API schemas (and KEDA's
 * and the Prometheus Operator's): the rendered kustomize trees (`kubectl kustomize`, skipped
 * where kubectl is missing) and, always, the source files the kustomizations list.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HAS_KUBECTL, kustomize, kustomizeWithComponents } from './kube.ts';
import { asPrometheusRule, kustomizationSources, modelFor, validateManifest, validateManifests } from './manifest-schema.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const K8S = join(ROOT, 'k8s');
const needsKubectl = HAS_KUBECTL ? '' : ' [skipped: kubectl is not installed, so k8s/ cannot be rendered; the source files are still validated]';

/** Every overlay folder, so a new overlay is validated without editing this test. */
const OVERLAYS = readdirSync(join(K8S, 'overlays')).filter((d) => statSync(join(K8S, 'overlays', d)).isDirectory());
const COMPONENTS = readdirSync(join(K8S, 'components')).filter((d) => statSync(join(K8S, 'components', d)).isDirectory());

const rendered = new Map<string, unknown[]>();
/** Each tree is rendered once per run (kubectl kustomize takes about a second). */
function once(name: string, render: () => unknown[]): () => unknown[] {
  return () => rendered.get(name) ?? (rendered.set(name, render()), rendered.get(name)!);
}

const TREES: Array<{ name: string; render: () => unknown[] }> = [
  { name: 'base', render: once('base', () => kustomize(join(K8S, 'base'))) },
  ...OVERLAYS.map((o) => ({ name: `overlays/${o}`, render: once(`overlays/${o}`, () => kustomize(join(K8S, 'overlays', o))) })),
  // Optional components are validated on top of prod, where they are meant to be enabled.
  ...COMPONENTS.map((c) => ({ name: `overlays/prod + components/${c}`, render: () => kustomizeWithComponents(join(K8S, 'overlays', 'prod'), [join(K8S, 'components', c)]) })),
];

/** A Deployment that passes, for the unit tests below to break one field at a time. */
function deployment(container: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'switchboard-web', ports: [{ name: 'http', containerPort: 8080 }], ...container }] },
      },
    },
  };
}

describe(`rendered k8s trees validate against the schemas${needsKubectl}`, () => {
  for (const tree of TREES) {
    it.skipIf(!HAS_KUBECTL)(tree.name, () => {
      const objects = tree.render();
      expect(objects.length).toBeGreaterThan(10);
      expect(validateManifests(objects)).toEqual([]);
    });
  }

  it.skipIf(!HAS_KUBECTL)('covers the custom resources of prod (KEDA, Prometheus Operator)', () => {
    const prod = TREES.find((t) => t.name === 'overlays/prod')!;
    const kinds = new Set(prod.render().map((o) => (o as { kind: string }).kind));
    expect([...kinds]).toEqual(expect.arrayContaining(['ScaledObject', 'ServiceMonitor', 'Deployment', 'NetworkPolicy']));
  });
});

describe('k8s source files validate against the schemas (no kubectl needed)', () => {
  for (const dir of ['base', ...OVERLAYS.map((o) => `overlays/${o}`)]) {
    it(dir, () => {
      const objects = kustomizationSources(join(K8S, dir));
      expect(objects.length).toBeGreaterThan(0);
      expect(validateManifests(objects)).toEqual([]);
    });
  }
});

describe('the alert rules as a PrometheusRule', () => {
  it('validate', () => {
    expect(validateManifest(asPrometheusRule(join(ROOT, 'infra/prometheus/alerts.yml'), 'switchboard-alerts'))).toEqual([]);
  });
});

describe('the validator', () => {
  it('accepts a valid Deployment', () => {
    expect(validateManifest(deployment())).toEqual([]);
  });

  it('rejects a broken Deployment: wrong types and missing required fields', () => {
    expect(validateManifest(deployment({ ports: [{ containerPort: '8080' }] })).join()).toMatch(/containerPort must be integer/);
    expect(validateManifest(deployment({ name: undefined })).join()).toMatch(/must have required property '?name'?/);
    expect(validateManifest(deployment({ resources: { limits: { memory: ['512Mi'] } } }))).not.toEqual([]);
    expect(validateManifest(deployment({ env: { PORT: '8080' } })).join()).toMatch(/env must be array/);
    const noSelector = deployment();
    delete (noSelector.spec as Record<string, unknown>).selector;
    expect(validateManifest(noSelector).join()).toMatch(/must have required property '?selector'?/);
    expect(validateManifest({ ...deployment(), metadata: {} })).toContain('metadata.name is missing');
  });

  it('rejects unknown kinds and API versions instead of passing them unchecked', () => {
    expect(validateManifest({ ...deployment(), kind: 'Deploymnet' })).toEqual([expect.stringMatching(/^unknown kind Deploymnet in apiVersion apps\/v1/)]);
    expect(validateManifest({ ...deployment(), apiVersion: 'apps/v1beta1' })).toEqual([expect.stringMatching(/^unknown kind Deployment in apiVersion apps\/v1beta1/)]);
    expect(validateManifest({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })[0]).toMatch(/unknown kind Widget/);
    // A nested type of a known group is not a kind.
    expect(modelFor('keda.sh/v1alpha1', 'ScaledObjectSpec')).toBeUndefined();
    expect(validateManifest('kind: Deployment')).toEqual(['not a Kubernetes object (expected a mapping)']);
  });

  it('validates custom resources: ScaledObject, ServiceMonitor, PrometheusRule', () => {
    const scaled = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'agent-worker' }, spec: { scaleTargetRef: { name: 'agent-worker' }, triggers: [{ type: 'redis', metadata: { listName: 'x' } }] } };
    expect(validateManifest(scaled)).toEqual([]);
    expect(validateManifest({ ...scaled, spec: { scaleTargetRef: { name: 'agent-worker' } } }).join()).toMatch(/triggers/);
    expect(validateManifest({ ...scaled, spec: { ...scaled.spec, minReplicaCount: 'one' } }).join()).toMatch(/minReplicaCount must be integer/);

    const monitor = { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'switchboard' }, spec: { selector: {}, endpoints: [{ port: 'http', path: '/metrics' }] } };
    expect(validateManifest(monitor)).toEqual([]);
    expect(validateManifest({ ...monitor, spec: { selector: {}, endpoints: { port: 'http' } } }).join()).toMatch(/endpoints must be array/);

    const rule = { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'r' }, spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0' }] }] } };
    expect(validateManifest(rule)).toEqual([]);
    expect(validateManifest({ ...rule, spec: { groups: [{ rules: [] }] } }).join()).toMatch(/must have required property '?name'?/);
  });
});
