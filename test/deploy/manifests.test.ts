/**
 * Checks the deployment files against each other and against the code: the kustomize trees
 * (rendered with `kubectl kustomize`), docker-compose.yml, the Dockerfile, the Prometheus rules
 * and the Grafana dashboards.
 */
import { existsSync, globSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  HAS_KUBECTL,
  kustomize,
  kustomizeWithComponents,
  ofKind,
  referencedConfig,
  selects,
  workloads,
  type KubeObject,
  type NetworkPolicySpec,
  type Workload,
} from './kube.ts';
import { isAllowedSeries, labelMatchersInPromQL, metricNamesInPromQL, namedLabelValues, type MetricType } from './promql.ts';
import { SWITCHBOARD_LABEL_VALUES, SWITCHBOARD_METRICS } from './exported-metrics.ts';

export { SWITCHBOARD_METRICS };

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const at = (...parts: string[]) => join(ROOT, ...parts);


/** prom-client's collectDefaultMetrics() (v15), which every service's registry collects. */
export const PROM_CLIENT_DEFAULT_METRICS: Readonly<Record<string, MetricType>> = {
  process_cpu_user_seconds_total: 'counter',
  process_cpu_system_seconds_total: 'counter',
  process_cpu_seconds_total: 'counter',
  process_start_time_seconds: 'gauge',
  process_resident_memory_bytes: 'gauge',
  process_virtual_memory_bytes: 'gauge',
  process_heap_bytes: 'gauge',
  process_open_fds: 'gauge',
  process_max_fds: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
  nodejs_eventloop_lag_min_seconds: 'gauge',
  nodejs_eventloop_lag_max_seconds: 'gauge',
  nodejs_eventloop_lag_mean_seconds: 'gauge',
  nodejs_eventloop_lag_stddev_seconds: 'gauge',
  nodejs_eventloop_lag_p50_seconds: 'gauge',
  nodejs_eventloop_lag_p90_seconds: 'gauge',
  nodejs_eventloop_lag_p99_seconds: 'gauge',
  nodejs_active_resources: 'gauge',
  nodejs_active_resources_total: 'gauge',
  nodejs_active_handles: 'gauge',
  nodejs_active_handles_total: 'gauge',
  nodejs_active_requests: 'gauge',
  nodejs_active_requests_total: 'gauge',
  nodejs_heap_size_total_bytes: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
  nodejs_external_memory_bytes: 'gauge',
  nodejs_heap_space_size_total_bytes: 'gauge',
  nodejs_heap_space_size_used_bytes: 'gauge',
  nodejs_heap_space_size_available_bytes: 'gauge',
  nodejs_version_info: 'gauge',
  nodejs_gc_duration_seconds: 'histogram',
};

/** Series Prometheus itself records for every scrape target. */
export const PROMETHEUS_TARGET_SERIES: Readonly<Record<string, MetricType>> = {
  up: 'gauge',
  scrape_duration_seconds: 'gauge',
  scrape_samples_scraped: 'gauge',
  scrape_samples_post_metric_relabeling: 'gauge',
  scrape_series_added: 'gauge',
};

/** Every metric name alert rules and dashboards may use. */
export const METRIC_ALLOWLIST: ReadonlyMap<string, MetricType> = new Map(
  Object.entries({ ...SWITCHBOARD_METRICS, ...PROM_CLIENT_DEFAULT_METRICS, ...PROMETHEUS_TARGET_SERIES }),
);

/** Deployable services: the folders under services/ that have a src/main.ts. */
const SERVICES = readdirSync(at('services'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(at('services', d.name, 'src', 'main.ts')))
  .map((d) => d.name)
  .sort();

const OVERLAYS = { base: at('k8s', 'base'), dev: at('k8s', 'overlays', 'dev'), prod: at('k8s', 'overlays', 'prod') };
type Overlay = keyof typeof OVERLAYS;
const renders = new Map<Overlay, KubeObject[]>();
function render(overlay: Overlay): KubeObject[] {
  let objects = renders.get(overlay);
  if (!objects) renders.set(overlay, (objects = kustomize(OVERLAYS[overlay])));
  return objects;
}
const needsKubectl = HAS_KUBECTL ? '' : ' [skipped: kubectl is not installed, so k8s/ cannot be rendered]';

const readYaml = (...parts: string[]): unknown => parse(readFileSync(at(...parts), 'utf8'), { merge: true });

/** `switchboard-web:1.2` or `registry/x/switchboard-web@sha256:..` -> `web`. */
function serviceOfImage(image: string | undefined): string | undefined {
  const repo = (image ?? '').split('@')[0]!.split('/').pop()!.replace(/:.*$/, '');
  return /^switchboard-(.+)$/.exec(repo)?.[1];
}

function deployments(objects: KubeObject[]): Workload[] {
  return workloads(objects).filter((w) => w.kind === 'Deployment');
}

function deploymentOf(objects: KubeObject[], name: string): Workload {
  const found = deployments(objects).find((d) => d.metadata.name === name);
  if (!found) throw new Error(`no Deployment ${name}`);
  return found;
}

for (const overlay of Object.keys(OVERLAYS) as Overlay[]) {
  describe(`k8s ${overlay}${needsKubectl}`, () => {
    it.skipIf(!HAS_KUBECTL)('renders into the switchboard namespace', () => {
      const objects = render(overlay);
      expect(objects.length).toBeGreaterThan(10);
      for (const o of objects.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('switchboard');
    });

    it.skipIf(!HAS_KUBECTL)('deploys every service folder, each Deployment running one', () => {
      const objects = render(overlay);
      const deployed = deployments(objects).map((d) => serviceOfImage(d.spec.template.spec.containers[0]?.image));
      expect(deployed.sort()).toEqual(SERVICES);
      for (const d of deployments(objects)) {
        for (const c of d.spec.template.spec.containers) {
          const service = serviceOfImage(c.image);
          expect(SERVICES, `image ${c.image} of ${d.metadata.name}`).toContain(service);
          const entry = [...(c.command ?? []), ...(c.args ?? [])].filter((a) => a.endsWith('.ts'));
          expect(entry, `${d.metadata.name} runs its own service`).toEqual([`services/${service}/src/main.ts`]);
          expect(existsSync(at(entry[0]!)), `${entry[0]} exists`).toBe(true);
        }
      }
    });

    it.skipIf(!HAS_KUBECTL)('gives every Deployment probes, resources and a locked-down, non-root security context', () => {
      for (const d of deployments(render(overlay))) {
        const pod = d.spec.template.spec;
        expect(pod.terminationGracePeriodSeconds ?? 30, d.metadata.name).toBeGreaterThanOrEqual(30);
        for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
          const where = `${d.metadata.name}/${c.name}`;
          expect(c.livenessProbe?.httpGet?.path, `${where} liveness`).toBe('/healthz');
          expect(c.readinessProbe?.httpGet?.path, `${where} readiness`).toBe('/readyz');
          for (const kind of ['requests', 'limits'] as const) {
            expect(c.resources?.[kind]?.cpu, `${where} cpu ${kind}`).toBeTruthy();
            expect(c.resources?.[kind]?.memory, `${where} memory ${kind}`).toBeTruthy();
          }
          expect(c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, `${where} runAsNonRoot`).toBe(true);
          expect(c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser, `${where} uid`).toBe(10001);
          expect(c.securityContext?.allowPrivilegeEscalation, `${where} allowPrivilegeEscalation`).toBe(false);
          expect(c.securityContext?.privileged ?? false, `${where} privileged`).toBe(false);
          expect(c.securityContext?.readOnlyRootFilesystem, `${where} readOnlyRootFilesystem`).toBe(true);
          expect(c.securityContext?.capabilities?.drop, `${where} drops capabilities`).toEqual(['ALL']);
          expect(c.securityContext?.capabilities?.add ?? [], `${where} adds no capabilities`).toEqual([]);
          const port = c.ports?.find((p) => p.name === 'http');
          expect(c.env?.find((e) => e.name === 'PORT')?.value, `${where} PORT matches its http port`).toBe(String(port?.containerPort));
        }
      }
    });

    it.skipIf(!HAS_KUBECTL)('has every Service select the pods of a workload and target a port they expose', () => {
      const objects = render(overlay);
      const services = ofKind<KubeObject & { spec: { selector: Record<string, string>; ports: Array<{ targetPort: string | number }> } }>(objects, 'Service');
      expect(services.length).toBeGreaterThan(0);
      for (const s of services) {
        const target = workloads(objects).find((w) => selects(s.spec.selector, w.spec.template.metadata.labels));
        expect(target, `Service ${s.metadata.name} selects a workload`).toBeDefined();
        expect(Object.keys(s.spec.selector).length, `Service ${s.metadata.name} has a selector`).toBeGreaterThan(0);
        const exposed = target!.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
        for (const p of s.spec.ports) expect(exposed.some((e) => e.name === p.targetPort || e.containerPort === p.targetPort), `Service ${s.metadata.name} port ${p.targetPort}`).toBe(true);
      }
    });

    it.skipIf(!HAS_KUBECTL)('points autoscalers, disruption budgets and the ingress at objects that exist', () => {
      const objects = render(overlay);
      const names = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);
      for (const hpa of ofKind<KubeObject & { spec: { scaleTargetRef: { kind: string; name: string } } }>(objects, 'HorizontalPodAutoscaler')) {
        expect(names(hpa.spec.scaleTargetRef.kind)).toContain(hpa.spec.scaleTargetRef.name);
      }
      for (const so of ofKind<KubeObject & { spec: { scaleTargetRef: { name: string } } }>(objects, 'ScaledObject')) {
        expect(names('Deployment')).toContain(so.spec.scaleTargetRef.name);
      }
      for (const pdb of ofKind<KubeObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(objects, 'PodDisruptionBudget')) {
        expect(workloads(objects).some((w) => selects(pdb.spec.selector.matchLabels, w.spec.template.metadata.labels)), `PDB ${pdb.metadata.name}`).toBe(true);
      }
      const ingresses = ofKind<KubeObject & { spec: { rules: Array<{ http: { paths: Array<{ path: string; backend: { service: { name: string } } }> } }> } }>(objects, 'Ingress');
      const paths = ingresses.flatMap((i) => i.spec.rules.flatMap((r) => r.http.paths));
      // The API and generic webhooks go to web; a channel service with its own pods gets its own webhook path.
      expect(paths.map((p) => p.path).sort()).toEqual(['/v1', '/webhooks', '/webhooks/slack', '/webhooks/telegram', '/webhooks/whatsapp']);
      for (const p of paths) expect(names('Service')).toContain(p.backend.service.name);
      // Under default-deny, each Service the ingress routes to must let traffic in on its port.
      type Policy = KubeObject & { spec: NetworkPolicySpec & { ingress?: Array<{ from?: unknown[]; ports?: Array<{ port: string | number }> }> } };
      const admitting = ofKind<Policy>(objects, 'NetworkPolicy').filter((np) => np.spec.policyTypes?.includes('Ingress') && (np.spec.ingress ?? []).some((r) => !r.from && (r.ports ?? []).some((x) => x.port === 'http')));
      for (const name of new Set(paths.map((p) => p.backend.service.name))) {
        const service = ofKind<KubeObject & { spec: { selector: Record<string, string> } }>(objects, 'Service').find((s) => s.metadata.name === name)!;
        expect(admitting.some((np) => selects(np.spec.podSelector.matchLabels, service.spec.selector)), `ingress to ${name}'s pods`).toBe(true);
      }
    });

    it.skipIf(!HAS_KUBECTL)('renders every ConfigMap and Secret the pods reference (prod: no Secret at all)', () => {
      const objects = render(overlay);
      for (const w of workloads(objects)) {
        for (const c of w.spec.template.spec.containers) {
          const refs = referencedConfig(c);
          for (const name of refs.configMaps) expect(objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name === name), `ConfigMap ${name}`).toBe(true);
          // prod's Secret is created out of band, so that applying the overlay never overwrites it.
          if (overlay !== 'prod') for (const name of refs.secrets) expect(objects.some((o) => o.kind === 'Secret' && o.metadata.name === name), `Secret ${name}`).toBe(true);
        }
      }
      if (overlay === 'prod') expect(ofKind(objects, 'Secret')).toEqual([]);
    });

    it.skipIf(!HAS_KUBECTL)('gives every tool runner the same workspaces: one runner recreated, or several on one ReadWriteMany volume', () => {
      const objects = render(overlay);
      const runner = deploymentOf(objects, 'tool-runner') as ReturnType<typeof deploymentOf> & {
        spec: { strategy?: { type: string }; template: { spec: { volumes?: Array<{ name: string; emptyDir?: unknown; persistentVolumeClaim?: { claimName: string } }> } } };
      };
      const data = runner.spec.template.spec.volumes?.find((v) => v.name === 'data');
      const mount = runner.spec.template.spec.containers[0]!.volumeMounts?.find((m) => m.name === 'data');
      expect(mount?.mountPath).toBe('/data');
      if (runner.spec.replicas === 1) {
        expect(runner.spec.strategy?.type).toBe('Recreate');
      } else {
        const claim = ofKind<KubeObject & { spec: { accessModes: string[] } }>(objects, 'PersistentVolumeClaim').find((c) => c.metadata.name === data?.persistentVolumeClaim?.claimName);
        expect(claim?.spec.accessModes, 'a claim all runners can mount').toContain('ReadWriteMany');
      }
    });

    it.skipIf(!HAS_KUBECTL)('lets tool-runner reach only DNS, Redis and public web servers, holding no secret but REDIS_URL and a search key', () => {
      const objects = render(overlay);
      const runner = deploymentOf(objects, 'tool-runner');
      const labels = runner.spec.template.metadata.labels;
      const policies = ofKind<KubeObject & { spec: NetworkPolicySpec }>(objects, 'NetworkPolicy');
      expect(policies.find((p) => p.metadata.name === 'default-deny')?.spec.policyTypes?.sort()).toEqual(['Egress', 'Ingress']);
      const egress = policies
        .filter((p) => p.spec.policyTypes?.includes('Egress') && selects(p.spec.podSelector.matchLabels, labels))
        .flatMap((p) => p.spec.egress ?? []);
      for (const rule of egress) expect(rule.ports?.length, 'every egress rule names its ports').toBeGreaterThan(0);
      const ports = new Set(egress.flatMap((r) => (r.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`)));
      expect([...ports].sort()).toEqual(['TCP/443', 'TCP/53', 'TCP/6379', 'TCP/80', 'UDP/53']);
      // The web ports (web_fetch, http_request) go to public addresses only: never the cluster, the VPC or metadata.
      for (const rule of egress.filter((r) => (r.ports ?? []).some((p) => p.port === 443 || p.port === 80))) {
        const blocks = (rule.to ?? []).map((t) => t.ipBlock);
        expect(blocks.length).toBeGreaterThan(0);
        for (const block of blocks) {
          expect(block, 'an ipBlock, not a pod or namespace selector').toBeDefined();
          if (block!.cidr === '0.0.0.0/0') expect(block!.except).toEqual(expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '127.0.0.0/8']));
          else expect(block!.except).toEqual(expect.arrayContaining(['fc00::/7', 'fe80::/10', '::1/128']));
        }
      }
      const container = runner.spec.template.spec.containers[0]!;
      expect([...new Set(referencedConfig(container).secrets)]).toEqual(['switchboard-secrets']);
      // Never the model key, the database password or platform tokens; the web_search keys are optional.
      const secretRefs = container.env?.filter((e) => e.valueFrom?.secretKeyRef) ?? [];
      expect(secretRefs.map((e) => e.name)).toEqual(['REDIS_URL', 'BRAVE_API_KEY', 'TAVILY_API_KEY']);
      for (const e of secretRefs.slice(1)) expect((e.valueFrom!.secretKeyRef as { optional?: boolean }).optional, e.name).toBe(true);
    });
  });
}

describe(`k8s overlay specifics${needsKubectl}`, () => {
  it.skipIf(!HAS_KUBECTL)('prod scales the workers with KEDA on their BullMQ wait lists', () => {
    const objects = render('prod');
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('switchboard-config'));
    const prefix = config?.data?.SWITCHBOARD_PREFIX;
    expect(prefix).toBe('sb');
    type ScaledObject = KubeObject & { spec: { scaleTargetRef: { name: string }; triggers: Array<{ type: string; metadata: Record<string, string> }> } };
    const scaled = new Map(ofKind<ScaledObject>(objects, 'ScaledObject').map((s) => [s.spec.scaleTargetRef.name, s]));
    for (const [deployment, queue] of [['agent-worker', 'turns'], ['tool-runner', 'tools']] as const) {
      const redis = scaled.get(deployment)?.spec.triggers.find((t) => t.type === 'redis');
      expect(redis?.metadata.listName, deployment).toBe(`${prefix}:${queue}:wait`);
      // KEDA owns the replica count; a fixed one would be reset on every apply.
      expect(deploymentOf(objects, deployment).spec.replicas, deployment).toBeUndefined();
    }
    expect(deploymentOf(objects, 'web').spec.replicas).toBeUndefined();
  });

  it.skipIf(!HAS_KUBECTL)('prod scrapes every Service through one ServiceMonitor on the port named http', () => {
    const objects = render('prod');
    type Monitor = KubeObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string; path: string }> } };
    const [monitor, ...others] = ofKind<Monitor>(objects, 'ServiceMonitor');
    expect(others).toEqual([]);
    expect(monitor?.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor?.spec.endpoints).toContainEqual(expect.objectContaining({ port: 'http', path: '/metrics' }));
    for (const s of ofKind<KubeObject & { spec: { ports: Array<{ name: string }> } }>(objects, 'Service')) {
      expect(selects(monitor?.spec.selector.matchLabels, s.metadata.labels), `Service ${s.metadata.name} is scraped`).toBe(true);
      expect(s.spec.ports.map((p) => p.name), `Service ${s.metadata.name}`).toContain('http');
    }
  });

  it.skipIf(!HAS_KUBECTL)('dev starts the channel services at zero replicas (without tokens they exit at once and would restart forever)', () => {
    const objects = render('dev');
    const replicas = (name: string) => (deploymentOf(objects, name).spec as { replicas?: number }).replicas;
    for (const channel of ['telegram', 'slack', 'whatsapp', 'discord']) expect(replicas(channel), channel).toBe(0);
    for (const core of ['web', 'agent-worker', 'tool-runner']) expect(replicas(core) ?? 1, core).toBeGreaterThan(0);
  });

  it.skipIf(!HAS_KUBECTL)('dev runs Redis with AOF and noeviction and Postgres with pgvector, reachable only by clients', () => {
    const objects = render('dev');
    const byName = new Map(workloads(objects).filter((w) => w.kind === 'StatefulSet').map((w) => [w.metadata.name, w]));
    const redisArgs = (byName.get('redis')?.spec.template.spec.containers[0]?.args ?? []).join(' ');
    expect(redisArgs).toMatch(/--appendonly yes/);
    expect(redisArgs).toMatch(/--maxmemory-policy noeviction/);
    expect(byName.get('postgres')?.spec.template.spec.containers[0]?.image).toMatch(/^pgvector\/pgvector:pg17/);
    const policies = ofKind<KubeObject & { spec: { podSelector: { matchLabels: Record<string, string> }; ingress: Array<{ from: Array<{ podSelector: { matchLabels: Record<string, string> } }> }> } }>(objects, 'NetworkPolicy');
    for (const [store, label] of [['redis', 'switchboard.dev/redis-client'], ['postgres', 'switchboard.dev/postgres-client']]) {
      const policy = policies.find((p) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/name'] === store);
      expect(policy?.spec.ingress.flatMap((r) => r.from.map((f) => f.podSelector.matchLabels)), store).toEqual([{ [label!]: 'true' }]);
    }
  });

  it.skipIf(!HAS_KUBECTL)('the tool-runner-userns component gives the sandbox a user-namespaced pod with an unmasked /proc', () => {
    const objects = kustomizeWithComponents(OVERLAYS.prod, [at('k8s', 'components', 'tool-runner-userns')]);
    const pod = deploymentOf(objects, 'tool-runner').spec.template.spec;
    expect(pod.hostUsers).toBe(false);
    expect(pod.containers[0]?.securityContext?.procMount).toBe('Unmasked');
  });
});

describe('docker-compose.yml', () => {
  type ComposeService = { image?: string; command?: string[]; build?: { target?: string }; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; healthcheck?: unknown; deploy?: { replicas?: number } };
  const compose = readYaml('docker-compose.yml') as { services: Record<string, ComposeService> };

  it('runs Redis with AOF and noeviction, and Postgres with pgvector, both health-checked', () => {
    const { redis, postgres } = compose.services;
    expect(redis?.image).toMatch(/^redis:(7|8)/);
    expect(redis?.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(redis?.command?.join(' ')).toMatch(/--maxmemory-policy noeviction/);
    expect(postgres?.image).toBe('pgvector/pgvector:pg17');
    expect(redis?.healthcheck).toBeDefined();
    expect(postgres?.healthcheck).toBeDefined();
  });

  it('runs every service folder from its Dockerfile target, wired to Redis and scraped by Prometheus', () => {
    const prometheus = readYaml('infra', 'prometheus', 'prometheus.yml') as { scrape_configs: Array<{ job_name: string; dns_sd_configs?: Array<{ port: number }> }> };
    const built = Object.entries(compose.services).filter(([, s]) => s.build);
    expect(built.map(([name]) => name).sort()).toEqual(SERVICES);
    for (const [name, s] of built) {
      expect(s.build?.target, name).toBe(name);
      expect(s.environment?.REDIS_URL, name).toBe('redis://redis:6379');
      expect(s.depends_on?.redis?.condition, name).toBe('service_healthy');
      const job = prometheus.scrape_configs.find((j) => j.job_name === name);
      expect(job?.dns_sd_configs?.[0]?.port, `${name} is scraped on its PORT`).toBe(Number(s.environment?.PORT));
    }
    expect(compose.services['agent-worker']?.deploy?.replicas).toBe(2);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(at('Dockerfile'), 'utf8');
  const stages = new Map<string, string>();
  for (const chunk of text.split(/^(?=FROM )/m).slice(1)) stages.set(/^FROM \S+ AS (\S+)/.exec(chunk)?.[1] ?? '', chunk);

  it('has a target per service and an all-in-one, each non-root and running a file that exists', () => {
    expect(stages.get('base')).toMatch(/ENTRYPOINT \["\/usr\/bin\/tini", "--"\]/);
    for (const target of [...SERVICES, 'all-in-one']) {
      const stage = stages.get(target);
      expect(stage, `target ${target}`).toBeDefined();
      expect(stage).toMatch(/^USER 10001:10001$/m);
      const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(stage!)?.[1] ?? '[]') as string[];
      expect(cmd[0], target).toBe('node');
      expect(existsSync(at(cmd[1]!)), `${target} runs ${cmd[1]}`).toBe(true);
    }
    expect(stages.get('tool-runner')).toMatch(/apt-get install[^\n]* bubblewrap/);
    expect(stages.get('all-in-one')).toMatch(/apt-get install[^\n]* redis-server/);
    expect(stages.get('deps')).toMatch(/npm ci --omit=dev/);
  });

  it('installs dependencies without the workspaces’ install scripts, whose files the manifests stage does not copy', () => {
    const root = JSON.parse(readFileSync(at('package.json'), 'utf8')) as { workspaces: string[] };
    const withScripts = globSync(root.workspaces.map((g) => `${g}/package.json`), { cwd: at() }).filter((manifest) => {
      const scripts = (JSON.parse(readFileSync(at(manifest), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
      return ['preinstall', 'install', 'postinstall'].some((name) => name in scripts);
    });
    expect(withScripts).toContain('shared/store/package.json');
    expect(stages.get('deps')).toMatch(/npm ci [^\n]*--ignore-scripts/);
  });
});

describe('monitoring', () => {
  type Rule = { alert?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  const alerts = readYaml('infra', 'prometheus', 'alerts.yml') as { groups: Array<{ name: string; rules: Rule[] }> };
  const dashboardDir = at('infra', 'grafana', 'dashboards');
  const dashboards = readdirSync(dashboardDir).filter((f) => f.endsWith('.json'));

  function exprsOf(node: unknown): string[] {
    if (Array.isArray(node)) return node.flatMap(exprsOf);
    if (node === null || typeof node !== 'object') return [];
    return Object.entries(node).flatMap(([key, value]) => (key === 'expr' && typeof value === 'string' ? [value] : exprsOf(value)));
  }

  function unknownMetrics(exprs: string[]): string[] {
    return [...new Set(exprs.flatMap(metricNamesInPromQL))].filter((name) => !isAllowedSeries(name, METRIC_ALLOWLIST));
  }

  /** `metric{label="value"}` matchers whose value is outside the label's closed set (they select nothing). */
  function unknownLabelValues(exprs: string[]): string[] {
    return [...new Set(exprs.flatMap((expr) => labelMatchersInPromQL(expr).flatMap((m) => {
      const known = SWITCHBOARD_LABEL_VALUES[m.metric]?.[m.label];
      return known ? namedLabelValues(m).filter((v) => !known.includes(v)).map((v) => `${m.metric}{${m.label}="${v}"}`) : [];
    })))];
  }

  it('matches only label values the code emits', () => {
    expect(unknownLabelValues(alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)))).toEqual([]);
    for (const file of dashboards) expect(unknownLabelValues(exprsOf(JSON.parse(readFileSync(join(dashboardDir, file), 'utf8')))), file).toEqual([]);
    expect(unknownLabelValues(['rate(switchboard_tool_runs_total{outcome="timed_out"}[5m])'])).toEqual(['switchboard_tool_runs_total{outcome="timed_out"}']);
  });

  it('gives every alert a severity and a summary, and uses only exported metric names', () => {
    const rules = alerts.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(5);
    for (const rule of rules) {
      expect(rule.labels?.severity, rule.alert).toMatch(/^(critical|warning|info)$/);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
    }
    expect(unknownMetrics(rules.map((r) => r.expr))).toEqual([]);
  });

  it('builds dashboards from the provisioned datasource and exported metric names only', () => {
    const datasources = readYaml('infra', 'grafana', 'provisioning', 'datasources', 'prometheus.yml') as { datasources: Array<{ uid: string }> };
    const uids = datasources.datasources.map((d) => d.uid);
    expect(dashboards.length).toBeGreaterThan(0);
    for (const file of dashboards) {
      const dashboard = JSON.parse(readFileSync(join(dashboardDir, file), 'utf8')) as { uid?: string; panels: Array<{ datasource?: { uid?: string } }> };
      expect(dashboard.uid, file).toBeTruthy();
      const exprs = exprsOf(dashboard.panels);
      expect(exprs.length, file).toBeGreaterThan(0);
      expect(unknownMetrics(exprs), file).toEqual([]);
      for (const panel of dashboard.panels.filter((p) => p.datasource)) expect(uids, file).toContain(panel.datasource?.uid);
    }
  });

  it('loads the alert rules from the Prometheus config', () => {
    const config = readYaml('infra', 'prometheus', 'prometheus.yml') as { rule_files: string[] };
    for (const file of config.rule_files) expect(existsSync(at('infra', 'prometheus', file)), file).toBe(true);
  });
});
