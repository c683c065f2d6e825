// Entry of `npm start`. Plain JavaScript on purpose: a TypeScript entry makes Node load its type
// stripper (~120 ms) before any line runs; from here every TypeScript module comes type-stripped
// from the compile cache that main.ts names (NODE_COMPILE_CACHE, when set, wins).
import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';

enableCompileCache(fileURLToPath(new URL('../node_modules/.cache/switchboard-compile/', import.meta.url)));
// The bundle of main.ts and all it imports (see bundle.ts), built first when it is out of date,
// or main.ts itself.
const { bundledEntry } = await import('./bundle.ts');
let entry;
try {
  // SWITCHBOARD_BUNDLE is read before the config (config.ts) can be: it decides what to load.
  // eslint-disable-next-line no-restricted-properties
  entry = bundledEntry(process.env);
} catch (err) {
  process.stderr.write(`Switchboard could not start: ${err.message}\n`);
  process.exit(1);
}
await import(entry ?? './main.ts');
