// Embeds lua/*.lua into src/generated/lua.ts at build time, resolving `-- @include`
// lines, so the installed package never reads script files at run time.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'generated', 'lua.ts');

function expand(file) {
  return readFileSync(file, 'utf8').replace(/^-- @include (\S+)$/gm, (_, name) =>
    readFileSync(join(here, 'includes', name), 'utf8').trimEnd(),
  );
}

const scripts = readdirSync(here)
  .filter((f) => f.endsWith('.lua'))
  .sort()
  .map((file) => {
    const m = /^(.+)-(\d+)\.lua$/.exec(file);
    if (!m) throw new Error(`lua/${file}: expected a name of the form name-<numKeys>.lua`);
    const body = expand(join(here, file));
    const sha = createHash('sha1').update(body).digest('hex');
    return { name: m[1], numKeys: Number(m[2]), body, sha };
  });

const lines = [
  '// Generated from lua/*.lua by lua/embed.mjs; do not edit.',
  'export interface ScriptSource { readonly name: string; readonly numKeys: number; readonly sha: string; readonly body: string }',
  ...scripts.map(
    (s) =>
      `export const ${s.name}: ScriptSource = { name: ${JSON.stringify(s.name)}, numKeys: ${s.numKeys}, sha: ${JSON.stringify(s.sha)}, body: ${JSON.stringify(s.body)} };`,
  ),
  '',
];
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, lines.join('\n'));
