// The WASM a browser downloads for each dashboard page of a `cargo leptos build --split` site:
// the main file plus the chunks that the split manifest lists for the page's view, each file
// compressed on its own with `gzip -9` (as the server sends them, one response per file; the
// same measure as the single-file sizes of earlier builds).
// Usage: node scripts/wasm-sizes.mjs [site pkg directory, default target/site/pkg]
// (docs/PERFORMANCE.md records its output for release builds against the 400 KB budget of a page's first load).
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const BUDGET = 400 * 1000;
const dir = path.resolve(process.argv[2] ?? 'target/site/pkg');
const gz = (file) =>
  execFileSync('gzip', ['-9c', path.join(dir, file)], { maxBuffer: 1 << 30 }).length;

let manifest;
try {
  manifest = JSON.parse(readFileSync(path.join(dir, '__wasm_split_manifest.json'), 'utf8'));
} catch (e) {
  console.error(`${dir}: no split manifest (${e.message}); build with \`cargo leptos build --split\``);
  process.exit(1);
}

const main = gz('cyborgbackup.wasm');
const rows = [['main file only', 1, main]];
// Keys look like `__jobs_view_<hash>` (a route's view function) or `form_view_<hash>` (the
// `#[lazy]` function of the parts drawn on demand: the forms), which is never a
// first load: it is reported as what it adds to each page that opens it.
const deferredKey = Object.keys(manifest).find((k) => k.startsWith('form_view'));
const deferred = deferredKey ? manifest[deferredKey] : [];
// The pages that draw parts on demand (app/src/dashboard/on_demand.rs).
const withDeferred = ['resource_pages', 'schedules', 'catalog'];
const later = [];
for (const [view, chunks] of Object.entries(manifest)) {
  if (view === deferredKey) continue;
  const page = view.replace(/^__/, '').replace(/_view_\d+$/, '');
  const bytes = chunks.reduce((sum, chunk) => sum + gz(`${chunk}.wasm`), main);
  rows.push([page, 1 + chunks.length, bytes]);
  if (!withDeferred.includes(page)) continue;
  const extra = deferred.filter((c) => !chunks.includes(c));
  later.push([page, extra.length, extra.reduce((sum, chunk) => sum + gz(`${chunk}.wasm`), 0)]);
}
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.wasm'))
  .map(gz);
rows.sort((a, b) => a[2] - b[2]);
for (const [page, files, bytes] of rows) {
  const verdict = bytes <= BUDGET ? 'within' : 'over';
  console.log(`${page.padEnd(28)} ${String(files).padStart(3)} files ${String(bytes).padStart(9)} B gzip  ${verdict} 400 KB`);
}
for (const [page, files, bytes] of later) {
  const what = `${page}: on demand`;
  console.log(`${what.padEnd(28)} ${String(files).padStart(3)} files ${String(bytes).padStart(9)} B gzip  more when its form first opens`);
}
console.log(`${'every file'.padEnd(28)} ${String(all.length).padStart(3)} files ${String(all.reduce((a, b) => a + b, 0)).padStart(9)} B gzip`);
