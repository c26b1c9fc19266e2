// Bundles the SDK (IIFE global `Weir` + ESM) or, with --tests, the unit tests
// (each test file bundled with the sources it imports, so node --test runs plain JS).
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';

const common = { bundle: true, target: 'es2019', logLevel: 'warning' };

if (process.argv.includes('--tests')) {
  rmSync('test-dist', { recursive: true, force: true });
  const tests = readdirSync('test').filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`);
  await build({
    ...common,
    entryPoints: tests,
    outdir: 'test-dist',
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    platform: 'node',
    target: 'node20',
  });
} else {
  await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/weir.js', format: 'iife', globalName: 'Weir' });
  await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/weir.mjs', format: 'esm' });
}
