import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Format is checked by ESLint Stylistic rules that match the code as it is written (2-space indent,
// single quotes, semicolons, trailing commas), not by a formatter that rewrites files: Prettier would
// rewrite about 200 of the 300 files. No line-length rule: lines run as long as the thought.
export default tseslint.config(
  { ignores: ['node_modules/', 'models/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: globals.node },
    plugins: { '@stylistic': stylistic },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // A handle object returned by a method closes over its queue under that name.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['queue'] }],
      '@stylistic/indent': ['error', 2, { offsetTernaryExpressions: true, SwitchCase: 1, ignoredNodes: ['TSUnionType > TSTypeLiteral', 'TSUnionType > TSTypeLiteral *'] }],
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/semi': ['error', 'always'],
      '@stylistic/member-delimiter-style': 'error',
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/comma-spacing': 'error',
      '@stylistic/key-spacing': 'error',
      '@stylistic/keyword-spacing': 'error',
      '@stylistic/space-infix-ops': 'error',
      '@stylistic/space-before-blocks': 'error',
      '@stylistic/type-annotation-spacing': 'error',
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/brace-style': ['error', '1tbs', { allowSingleLine: true }],
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/no-multiple-empty-lines': ['error', { max: 1 }],
      '@stylistic/eol-last': 'error',
    },
  },
  {
    files: ['src/sandbox/web/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    // transformers.js, the parity reference, is untyped.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Their describe bodies sit flush left inside a loop over forms.
    files: ['test/batching.test.ts', 'test/subject-cache.test.ts'],
    rules: { '@stylistic/indent': 'off' },
  },
);
