// Builds dist/ (committed: the Go journey server embeds it): src/shop.js with the browser SDK
// from its TypeScript source, src/operator.js with a tree-shaken Chart.js, both minified
// ES2019 IIFEs, and the pages and stylesheet copied as they are. The output depends only on
// the sources and the locked package versions: no timestamps, no absolute paths, no source
// maps, so two builds are byte-identical (check with cmp).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const common = {
  absWorkingDir: here,
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2019',
  platform: 'browser',
  sourcemap: false,
  legalComments: 'eof', // Chart.js's license banner stays, once, at the end
  charset: 'utf8',
  treeShaking: true,
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
};

await build({ ...common, entryPoints: ['src/shop.js'], outfile: 'dist/shop.js' });
await build({ ...common, entryPoints: ['src/operator.js'], outfile: 'dist/operator.js' });

for (const f of ['shop.html', 'operator.html', 'style.css']) copyFileSync(join(here, 'src', f), join(dist, f));
