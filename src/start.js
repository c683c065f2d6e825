// Entry of `npm start`. Plain JavaScript on purpose: a TypeScript entry makes Node load its type
// stripper (~120 ms) before any line runs; from here every TypeScript module comes type-stripped
// from the compile cache that main.ts names (NODE_COMPILE_CACHE, when set, wins).
import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';

enableCompileCache(fileURLToPath(new URL('../node_modules/.cache/switchboard-compile/', import.meta.url)));
await import('./main.ts');
