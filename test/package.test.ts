// The package as a user installs it: the exports map resolves for import and require,
// both builds expose the same API with type declarations, and the installed code never
// reads the Lua files from disk at run time.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('package');
const require = createRequire(import.meta.url);
const API = ['join', 'createMember', 'Member', 'Lease', 'Snowflake', 'localSnowflake', 'decodeId', 'encodeId', 'MusterError', 'DuplicateNodeError', 'OptionTypeError'];

test('import "redis-muster" (ESM) and require("redis-muster") (CommonJS) give the API', async () => {
  // By name, as a user would (the package refers to itself through its exports map);
  // a variable keeps the type check from needing dist/ to exist.
  const name = 'redis-muster';
  const esm = (await import(name)) as Record<string, unknown>;
  const cjs = require(name) as Record<string, unknown>;
  for (const name of API) {
    assert.type(esm[name], 'function', `ESM ${name}`);
    assert.type(cjs[name], 'function', `CJS ${name}`);
  }
  const { Snowflake } = cjs as { Snowflake: new (o: { workerId: number }) => { next(): bigint } };
  assert.is(typeof new Snowflake({ workerId: 1 }).next(), 'bigint');
});

test('import "redis-muster/clusterix" (default export) and require it (CommonJS)', async () => {
  const name = 'redis-muster/clusterix';
  const esm = (await import(name)) as { default: unknown; Clusterix: unknown };
  const cjs = require(name) as { default: unknown; Clusterix: unknown };
  assert.type(esm.default, 'function');
  assert.is(esm.default, esm.Clusterix);
  assert.type(cjs.default, 'function');
  assert.is(cjs.default, cjs.Clusterix);
  assert.is((esm.default as { name: string }).name, 'Clusterix');
});

test('errors of the CommonJS copy are instanceof the ESM classes and back (by brand and class name)', async () => {
  const name = 'redis-muster';
  type Ctor = new (...a: never[]) => Error;
  const esm = (await import(name)) as Record<string, Ctor & { new (o: unknown): unknown }>;
  const cjs = require(name) as Record<string, Ctor & { new (o: unknown): unknown }>;
  assert.is.not(esm.OptionTypeError, cjs.OptionTypeError, 'two copies of the classes');
  const fromCjs = (() => {
    try {
      new cjs.Snowflake!({ workerId: 'x' });
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  const fromEsm = (() => {
    try {
      new esm.Snowflake!({ workerId: -1 });
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  assert.ok(fromCjs instanceof esm.OptionTypeError!, 'CJS OptionTypeError instanceof ESM OptionTypeError');
  assert.ok(fromCjs instanceof esm.MusterError!);
  assert.ok(fromCjs instanceof TypeError);
  assert.not.ok(fromCjs instanceof esm.OptionRangeError!, 'not another class');
  assert.ok(fromEsm instanceof cjs.OptionRangeError!, 'ESM OptionRangeError instanceof CJS OptionRangeError');
  assert.not.ok(fromEsm instanceof cjs.DuplicateNodeError!);
  const dup = new (cjs.DuplicateNodeError as unknown as new (id: string, reason: string) => Error)('n1', 'a test');
  assert.ok(dup instanceof esm.DuplicateNodeError!);
  assert.ok(dup instanceof esm.MusterError!);
  assert.not.ok(new Error('plain') instanceof esm.DuplicateNodeError!);
});

test('type declarations ship with both builds', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    exports: Record<'.' | './clusterix', { import: { types: string }; require: { types: string } }>;
  };
  for (const p of (['.', './clusterix'] as const).flatMap((k) => [pkg.exports[k].import.types, pkg.exports[k].require.types])) {
    assert.ok(existsSync(new URL(`../../${p}`, import.meta.url)), p);
  }
});

test('the built code carries the Lua scripts and reads no file at run time', () => {
  const gen = readFileSync(new URL('../../dist/esm/generated/lua.js', import.meta.url), 'utf8');
  assert.match(gen, /redis\.call\('TIME'\)/);
  // Every module but the single-host file pool (whose job is files).
  const root = new URL('../../dist/esm/', import.meta.url);
  const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.js') && !f.endsWith('filepool.js'));
  assert.ok(files.includes('index.js') && files.some((f) => f.endsWith('member.js')), files.join(', '));
  for (const f of files) {
    const src = readFileSync(new URL(f, root), 'utf8');
    assert.not.match(src, /readFileSync|readFile\(/, f);
  }
});

test('the tarball ships what runs: both builds, README and LICENSE; no Lua sources, build scripts or tests', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: new URL('../..', import.meta.url), encoding: 'utf8' });
  const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/package.json']) {
    assert.ok(files.includes(f), `${f} is shipped`);
  }
  const stray = files.filter((f) => /\.lua$|\.mjs$|^src\/|^test\/|^bench\/|^build\/|\.tsbuildinfo$/.test(f));
  assert.equal(stray, []);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  assert.is(pkg.name, 'redis-muster');
  assert.ok((pkg.scripts as Record<string, string>).prepare, 'a git or file: install builds dist/');
});

test.run();
