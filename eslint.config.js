// Type-aware lint. The one project-specific rule: a folder under src/ is entered
// only through its index.ts ("the door"), so internals stay private.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.mobius/**',
      'coverage/**',
      'bin/**',
      '.cache/**',
      '.ci/out/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      // Fastify hooks and handlers are async by contract even when they do not await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // '../store/sqlite/x.js' or '../src/store/x.js' reach past a door: use '../store/index.js'.
              regex: '^(\\.\\./)+(src/)?(?!src/)[a-z-]+/(?!index\\.js$).+',
              message: "Enter another folder only through its door: '<folder>/index.js'.",
            },
          ],
        },
      ],
    },
  },
  {
    // Tests read JSON bodies and CLI output as `any` on purpose: asserting their shape
    // is the test. Source code keeps the unsafe-any rules.
    files: ['test/**/*.ts', 'src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
