import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** `npm start` as package.json spells it: environment assignments, then `node`, its flags and the entry. */
export interface NpmStartCommand {
  /** Variables the script sets before `node` (`NAME=value` words). */
  env: Record<string, string>;
  /** Node's flags, without the entry. */
  nodeArgs: string[];
  entry: string;
}

/**
 * Reads `scripts.start` from the package.json in `root`, so tests and benchmarks run exactly what
 * users run. Throws when it is not of the form `[NAME=value …] node [flags …] <entry>`.
 */
export async function npmStartCommand(root: string): Promise<NpmStartCommand> {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) {
    const word = words.shift()!;
    const eq = word.indexOf('=');
    env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  // `exec`: the shell npm runs the script in becomes node, so npm's SIGTERM reaches it.
  if (words[0] === 'exec') words.shift();
  if (words[0] !== 'node' || words.length < 2) throw new Error(`npm start is not a plain node command: ${pkg.scripts.start}`);
  return { env, nodeArgs: words.slice(1, -1), entry: words[words.length - 1]! };
}
