// Module boundaries, checked on the source text: agent/ and supervisor/ never import each other,
// shared/ and media/ sit below both, and no product code imports tests/, testbed/, bench/ or
// scripts/ (which themselves never import tests/). Static imports, type imports, `export ... from`
// and dynamic `import('...')` with a string literal all count; only relative specifiers can cross.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SUPPORT = ['tests', 'testbed', 'bench', 'scripts'];
/** Top-level directory -> top-level directories it must not import from. */
const FORBIDDEN: Record<string, string[]> = {
  agent: ['supervisor', ...SUPPORT],
  supervisor: ['agent', ...SUPPORT],
  shared: ['agent', 'supervisor', 'media', ...SUPPORT],
  media: ['agent', 'supervisor', ...SUPPORT],
  bench: ['tests'],
  scripts: ['tests'],
  testbed: ['tests'],
};

// `import x from '…'`, `import type { X } from '…'`, `export { x } from '…'`, `export * from '…'`,
// `import '…'` and `import('…')`: the specifier is group 1.
const IMPORT = /\b(?:(?:import|export)\b[\w\s{},*$]*?\bfrom\s*|import\s*\(\s*|import\s+)(['"])([^'"\n]+)\1/g;

interface ImportRef {
  line: number;
  specifier: string;
}

function importsIn(source: string): ImportRef[] {
  return [...source.matchAll(IMPORT)].map((m) => {
    const at = m.index + m[0].lastIndexOf(m[2]!);
    return { line: source.slice(0, at).split('\n').length, specifier: m[2]! };
  });
}

/** `file` is relative to the repository root; returns `file:line imports target` per violation. */
function violationsIn(file: string, source: string): string[] {
  const forbidden = FORBIDDEN[file.split('/')[0]!] ?? [];
  const found: string[] = [];
  for (const { line, specifier } of importsIn(source)) {
    if (!specifier.startsWith('.')) continue;
    const target = relative(ROOT, resolve(ROOT, dirname(file), specifier)).split(/[\\/]/).join('/');
    if (forbidden.includes(target.split('/')[0]!)) found.push(`${file}:${line} imports ${target}`);
  }
  return found;
}

function tsFiles(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith('.ts') ? [relative(ROOT, path).split(/[\\/]/).join('/')] : [];
  });
}

test('the scanner finds static, type, re-export and dynamic imports', () => {
  const source = [
    "import { a } from '../agent/a.ts';",
    "import type {\n  B,\n} from \"../supervisor/b.ts\";",
    "export { c } from '../tests/c.ts';",
    "export * from './d.ts';",
    "const e = await import('../media/e.ts');",
    "import './f.ts';",
    "const g = 'import from nothing';",
  ].join('\n');
  assert.deepEqual(importsIn(source), [
    { line: 1, specifier: '../agent/a.ts' },
    { line: 4, specifier: '../supervisor/b.ts' },
    { line: 5, specifier: '../tests/c.ts' },
    { line: 6, specifier: './d.ts' },
    { line: 7, specifier: '../media/e.ts' },
    { line: 8, specifier: './f.ts' },
  ]);
  assert.deepEqual(violationsIn('shared/x.ts', source), [
    'shared/x.ts:1 imports agent/a.ts',
    'shared/x.ts:4 imports supervisor/b.ts',
    'shared/x.ts:5 imports tests/c.ts',
    'shared/x.ts:7 imports media/e.ts',
  ]);
  assert.deepEqual(violationsIn('agent/deep/x.ts', "await import('../../supervisor/y.ts');"), [
    'agent/deep/x.ts:1 imports supervisor/y.ts',
  ]);
  assert.deepEqual(violationsIn('tests/x.ts', source), []);
});

test('no module imports across a forbidden boundary', () => {
  const files = tsFiles();
  for (const dir of ['agent', 'supervisor', 'shared', 'tests', 'testbed', 'bench', 'scripts']) {
    assert.ok(files.some((file) => file.startsWith(`${dir}/`)), `no .ts file found under ${dir}/`);
  }
  assert.ok(files.some((file) => importsIn(readFileSync(join(ROOT, file), 'utf8')).length > 0), 'no imports found');
  const violations = files.flatMap((file) => violationsIn(file, readFileSync(join(ROOT, file), 'utf8')));
  assert.equal(violations.length, 0, `forbidden imports:\n${violations.join('\n')}`);
});
