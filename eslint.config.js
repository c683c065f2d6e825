// Lint rules, including the architecture boundaries of STYLE.md, enforced here rather than by memory.
import { readdirSync } from 'node:fs';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const services = readdirSync(new URL('./services/', import.meta.url), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

/** Platform SDKs and the one service each may be imported from. */
const platformSdks = {
  grammy: 'telegram',
  '@grammyjs/*': 'telegram',
  '@slack/bolt': 'slack',
  '@slack/*': 'slack',
  'discord.js': 'discord',
  '@discordjs/*': 'discord',
};

// `@switchboard/store/early-worker` is the one other entry: `npm start` imports it before anything else.
const deepImport = {
  group: ['@switchboard/*/*', '!@switchboard/store/early-worker'],
  message: 'Import a package through its index (package.json#exports), not its files.',
};

function sdkPatterns(except) {
  return Object.entries(platformSdks)
    .filter(([, service]) => service !== except)
    .map(([sdk, service]) => ({ group: [sdk], message: `${sdk} may only be imported inside services/${service}.` }));
}

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'data/**', 'coverage/**', 'services/*/public/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', fetch: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: [deepImport, ...sdkPatterns(undefined)] }],
      // Configuration is read in config modules only, parsed once with zod.
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read the environment only in a config.ts module.' }],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            deepImport,
            ...sdkPatterns(undefined),
            { group: services.map((s) => `@switchboard/${s}`), message: 'shared/ never imports a service.' },
            { group: ['**/services/**'], message: 'shared/ never imports a service.' },
          ],
        },
      ],
    },
  },
  ...services.map((service) => ({
    files: [`services/${service}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            deepImport,
            ...sdkPatterns(service),
            {
              group: services.filter((s) => s !== service).map((s) => `@switchboard/${s}`),
              message: 'A service never imports another service; share code through shared/.',
            },
            { group: ['../../../*', '**/shared/*/src/**'], message: 'Import other packages by name, not by path.' },
          ],
        },
      ],
    },
  })),
  {
    files: ['**/config.ts', '**/*.test.ts', 'test/**/*.ts', 'vitest.config.ts', 'bench/**/*.ts', 'eslint.config.js'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
