import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'coverage/**', 'generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['scripts/**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: { URL: 'readonly', process: 'readonly', console: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Node 20 ties a generated key to its key-generation job, and a garbage collection during the key's export can
      // deadlock on the job's destructor (src/core/curve-keys.ts).
      'no-restricted-imports': [
        'error',
        ...['node:crypto', 'crypto'].map((name) => ({
          name,
          importNames: ['generateKeyPairSync', 'generateKeyPair'],
          message: 'use generateCurveKeyPair or generateEcKeyPair from src/core: a generated key can deadlock its export in Node 20',
        })),
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='generateKey'][callee.object.property.name='subtle']",
          message: 'use generateEcdsaCryptoKeyPair from src/core: a generated key can deadlock its export in Node 20',
        },
      ],
    },
  },
);
