// postinstall of @switchboard/store: builds the migrated PGlite snapshot once per install, so the
// first start on an empty DATA_DIR copies it (~0.1 s) instead of running initdb (several seconds).
// Plain JS so that an old Node can still run it. It never fails the install: when the snapshot
// cannot be built here (Node without type stripping, sources not copied yet in a Docker deps
// stage, read-only node_modules), it is built on first use instead.
const startedAt = Date.now();
try {
  const { ensureTemplate } = await import('../src/template-cache.ts');
  const dir = await ensureTemplate();
  console.log(`@switchboard/store: PGlite snapshot ready in ${Date.now() - startedAt} ms: ${dir}`);
} catch (err) {
  const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
  console.warn(`@switchboard/store: PGlite snapshot not prebuilt (${reason}); it will be built on first use.`);
}
