// Builds the web app into one folder the functions app serves (default dist/, or --outdir DIR):
//   index.html              references the hashed bundles below; no inline script or style (the CSP forbids them)
//   assets/app-<hash>.js    src/main.jsx and everything it imports (Preact, preact-iso, Chart.js), minified
//   assets/app-<hash>.css   src/styles.css
//   favicon.svg
// Run by the functions project's build (CloudTelephony.Functions.csproj, target WebAppBuild) after `npm ci`.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = process.argv.indexOf('--outdir');
const outdir = path.resolve(arg > 0 ? process.argv[arg + 1] : path.join(here, 'dist'));

await checkStrings();
await rm(outdir, { recursive: true, force: true });
await mkdir(path.join(outdir, 'assets'), { recursive: true });

const result = await build({
  entryPoints: { app: path.join(here, 'src/main.jsx') },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: path.join(outdir, 'assets'),
  entryNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

const outputs = Object.keys(result.metafile.outputs).map((f) => path.relative(outdir, path.resolve(f)).split(path.sep).join('/'));
const js = outputs.find((f) => /^assets\/app-[^/]+\.js$/.test(f));
const css = outputs.find((f) => /^assets\/app-[^/]+\.css$/.test(f));
if (!js || !css) {
  throw new Error(`esbuild wrote no app bundle: ${outputs.join(', ')}`);
}

const template = await readFile(path.join(here, 'src/index.html'), 'utf8');
await writeFile(path.join(outdir, 'index.html'), template.replace('%APP_JS%', `/${js}`).replace('%APP_CSS%', `/${css}`));
await copyFile(path.join(here, 'src/favicon.svg'), path.join(outdir, 'favicon.svg'));
console.log(`web app built into ${outdir}: ${js}, ${css}`);

/** Both languages have the same keys, and every literal t('key') in src/ names one of them. */
async function checkStrings() {
  const { STRINGS } = await import('./src/i18n.js');
  const problems = [];
  const [en, pl] = [Object.keys(STRINGS.en), Object.keys(STRINGS.pl)];
  for (const k of en.filter((k) => !(k in STRINGS.pl))) problems.push(`pl lacks ${k}`);
  for (const k of pl.filter((k) => !(k in STRINGS.en))) problems.push(`en lacks ${k}`);
  const { readdir } = await import('node:fs/promises');
  const files = (await readdir(path.join(here, 'src'), { recursive: true })).filter((f) => /\.(jsx?|mjs)$/.test(f));
  for (const f of files) {
    const text = await readFile(path.join(here, 'src', f), 'utf8');
    for (const m of text.matchAll(/\bt\('([\w.-]+)'/g)) {
      if (!(m[1] in STRINGS.en)) problems.push(`${f} uses unknown string ${m[1]}`);
    }
  }
  if (problems.length > 0) throw new Error(`strings (src/i18n.js): ${problems.join('; ')}`);
}
