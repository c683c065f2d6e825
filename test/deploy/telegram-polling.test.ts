import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HAS_KUBECTL, kustomizeWithComponents, type Workload } from './kube.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('k8s/components/telegram-polling', () => {
  it.skipIf(!HAS_KUBECTL)('makes telegram one polling replica, replaced with Recreate, with no autoscaler', () => {
    for (const overlay of ['dev', 'prod']) {
      const objects = kustomizeWithComponents(join(ROOT, 'k8s', 'overlays', overlay), [join(ROOT, 'k8s', 'components', 'telegram-polling')]);
      const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'telegram') as unknown as Workload & { spec: { replicas?: number; strategy?: { type: string; rollingUpdate?: unknown } } };
      expect(deployment.spec.replicas, overlay).toBe(1);
      expect(deployment.spec.strategy, overlay).toEqual({ type: 'Recreate' });
      const env = deployment.spec.template.spec.containers[0]!.env ?? [];
      expect(env.find((e) => e.name === 'TELEGRAM_MODE')?.value, overlay).toBe('polling');
      const secret = env.find((e) => e.name === 'TELEGRAM_WEBHOOK_SECRET')?.valueFrom?.secretKeyRef as { optional?: boolean } | undefined;
      expect(secret?.optional, overlay).toBe(true);
      expect(env.filter((e) => e.name === 'TELEGRAM_BOT_TOKEN'), overlay).toHaveLength(1);
      expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'telegram'), overlay).toBe(false);
    }
  });
});
