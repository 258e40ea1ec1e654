#!/usr/bin/env node
// The shape every package of this repository keeps, checked on every `npm test` (as vercel/ai's
// consistency check does for its providers). docs/plugin-authoring.md explains each rule; a rule
// that fails prints the package, the file and what to change.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPOSITORY = 'https://github.com/fish-sre/fish-sre';
const WORKSPACES = ['packages', 'apps'];
const SINGLE_WORKSPACES = ['catalog'];

/**
 * Exceptions, each with its reason. Nothing else is exempt.
 * - exec-ssh keeps its tests in test/ until its public pool API change lands (the move would
 *   collide with it); the rule applies to it afterwards.
 */
const TESTS_OUTSIDE_SRC_ALLOWED = new Set(['@fish-sre/exec-ssh']);

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function listFiles(directory, predicate, found = []) {
  if (!existsSync(directory)) return found;
  for (const entry of readdirSync(directory)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) listFiles(path, predicate, found);
    else if (predicate(path)) found.push(path);
  }
  return found;
}

/** Every package folder of the repository, with its package.json. */
export function workspacePackages(root) {
  const folders = [
    ...WORKSPACES.flatMap((workspace) => (existsSync(join(root, workspace)) ? readdirSync(join(root, workspace)).map((name) => join(root, workspace, name)) : [])),
    ...SINGLE_WORKSPACES.map((name) => join(root, name)),
  ];
  return folders.filter((folder) => existsSync(join(folder, 'package.json'))).map((folder) => ({ folder, manifest: readJson(join(folder, 'package.json')) }));
}

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-[\w.]+)?$/;

/** Whether `version` satisfies a caret range `^x.y.z` (npm's rules, 0.x included). */
function caretSatisfies(range, version) {
  const wanted = SEMVER.exec(range.slice(1));
  const have = SEMVER.exec(version);
  if (!range.startsWith('^') || !wanted || !have) return false;
  const [w, h] = [wanted.slice(1, 4).map(Number), have.slice(1, 4).map(Number)];
  if (h[0] !== w[0]) return false;
  if (w[0] === 0 && h[1] !== w[1]) return false;
  if (w[0] === 0 && w[1] === 0 && h[2] !== w[2]) return false;
  return h[1] > w[1] || (h[1] === w[1] && h[2] >= w[2]);
}

/** A package whose src/index.ts defines plugin descriptors. */
function isPluginPackage(folder) {
  const index = join(folder, 'src', 'index.ts');
  return folder.includes(`${join('packages', '')}`) && existsSync(index) && readFileSync(index, 'utf8').includes('definePlugin(');
}

function checkMetadata({ folder, manifest }, root, problems) {
  const where = relative(root, folder);
  const add = (message) => problems.push(`${manifest.name} (${where}/package.json): ${message}`);
  if (manifest.repository?.url !== `git+${REPOSITORY}.git` || manifest.repository?.directory !== where) {
    add(`repository must be { "type": "git", "url": "git+${REPOSITORY}.git", "directory": "${where}" }`);
  }
  if (manifest.homepage !== `${REPOSITORY}/tree/main/${where}#readme`) add(`homepage must be "${REPOSITORY}/tree/main/${where}#readme"`);
  if (manifest.bugs?.url !== `${REPOSITORY}/issues`) add(`bugs must be { "url": "${REPOSITORY}/issues" }`);
  if (!Array.isArray(manifest.keywords) || !manifest.keywords.includes('fish-sre')) add('keywords must include "fish-sre" (and say what the package is about)');
  if (manifest.license !== 'MIT') add('license must be "MIT"');
  const license = join(folder, 'LICENSE');
  if (!existsSync(license) || readFileSync(license, 'utf8') !== readFileSync(join(root, 'LICENSE'), 'utf8')) add('LICENSE must be a copy of the repository LICENSE (npm ships it in the tarball)');
  const readme = join(folder, 'README.md');
  if (!existsSync(readme)) add('README.md is missing');
  else {
    // npm shows the README on the package page, where a relative link leads nowhere.
    for (const [line, text] of readFileSync(readme, 'utf8').split('\n').entries()) {
      for (const match of text.matchAll(/\]\((?!https?:\/\/|#|mailto:)([^)\s]+)\)/g)) add(`README.md:${line + 1}: relative link ${match[1]} is dead on npm; use ${REPOSITORY}/blob/main/...`);
    }
  }
}

function checkInternalRanges({ folder, manifest }, versions, root, problems) {
  for (const section of ['dependencies', 'peerDependencies', 'devDependencies']) {
    for (const [name, range] of Object.entries(manifest[section] ?? {})) {
      if (!versions.has(name)) continue;
      if (!caretSatisfies(range, versions.get(name))) {
        problems.push(
          `${manifest.name} (${relative(root, folder)}/package.json): ${section}.${name} is "${range}"; use a caret range that the workspace's ${versions.get(name)} satisfies (an exact pin breaks mixed installs)`,
        );
      }
    }
  }
}

/** The rules of docs/plugin-authoring.md for a plugin package. */
function checkPluginShape({ folder, manifest }, root, problems) {
  const where = relative(root, folder);
  const add = (message) => problems.push(`${manifest.name} (${where}): ${message}`);
  const index = readFileSync(join(folder, 'src', 'index.ts'), 'utf8');
  if (!/import \{ version \} from '\.\.\/package\.json';/.test(index) || !/export const VERSION: string = version;/.test(index)) {
    add("src/index.ts must export VERSION read from package.json: import { version } from '../package.json'; export const VERSION: string = version;");
  }
  const sources = listFiles(join(folder, 'src'), (path) => path.endsWith('.ts') && !path.endsWith('.test.ts'));
  for (const source of sources) {
    if (/\bVERSION\s*=\s*['"]\d/.test(readFileSync(source, 'utf8'))) add(`${relative(folder, source)} types a version by hand; VERSION comes from package.json`);
    if (basename(source) !== 'index.ts' && readFileSync(source, 'utf8').includes('definePlugin(')) add(`${relative(folder, source)} defines a plugin descriptor; descriptors live in src/index.ts`);
  }
  const schemas = [...index.matchAll(/optionsSchema:\s*([A-Za-z_$][\w$]*)/g)].map((match) => match[1]);
  if (schemas.length === 0) add('src/index.ts has a definePlugin() without an `optionsSchema: <Name>OptionsSchema`');
  for (const schema of schemas) {
    if (!/^[A-Z][A-Za-z0-9]*OptionsSchema$/.test(schema)) {
      add(`options schema "${schema}" must be named <Name>OptionsSchema (PascalCase)`);
      continue;
    }
    const home = sources.find((source) => basename(source) !== 'index.ts' && new RegExp(`export const ${schema}\\b`).test(readFileSync(source, 'utf8')));
    if (!home) {
      add(`${schema} must be exported by src/<name>.ts, beside the factory that uses it (not by src/index.ts)`);
      continue;
    }
    const text = readFileSync(home, 'utf8');
    const name = schema.replace(/OptionsSchema$/, '');
    if (!/export function create[A-Z]\w*\(/.test(text)) add(`${relative(folder, home)} holds ${schema} but no exported create<Name>() factory`);
    // `<Name>Options = z.input<...> & { io }`, or `<Name>Config = z.input<...>` that the options extend.
    if (!new RegExp(`export type ${name}(?:Options|Config) = z\\.input<typeof ${schema}>`).test(text)) {
      add(`${relative(folder, home)} must infer the options type from the schema: export type ${name}Options = z.input<typeof ${schema}> (& the injectable I/O)`);
    }
  }
  const tests = listFiles(folder, (path) => path.endsWith('.test.ts'));
  const outside = tests.filter((path) => !relative(folder, path).startsWith(`src${'/'}`));
  if (outside.length > 0 && !TESTS_OUTSIDE_SRC_ALLOWED.has(manifest.name)) add(`tests live beside the code in src/: move ${outside.map((path) => relative(folder, path)).join(', ')}`);
  const descriptorTest = [join(folder, 'src', 'index.test.ts'), join(folder, 'test', 'index.test.ts')].find((path) => existsSync(path));
  if (!descriptorTest || !readFileSync(descriptorTest, 'utf8').includes('testPluginDescriptor(')) add('src/index.test.ts must call testPluginDescriptor() from @fish-sre/testkit');
  const peers = manifest.peerDependencies ?? {};
  if (!peers['@fish-sre/core'] || !peers.zod) add('@fish-sre/core and zod must be peerDependencies (one copy of the contracts and of zod in an install)');
  if (manifest.dependencies?.['@fish-sre/core']) add('@fish-sre/core must not be a dependency of a plugin (it is a peer)');
}

/** Published declarations may only import what a consumer gets installed with the package. */
function checkDeclarations({ folder, manifest }, root, problems) {
  const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
  const builtins = new Set(builtinModules);
  for (const file of listFiles(join(folder, 'dist'), (path) => path.endsWith('.d.ts'))) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const specifier = match[1];
      if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
      const typesName = `@types/${name.startsWith('@') ? name.slice(1).replace('/', '__') : name}`;
      if (!declared.has(name) && !declared.has(typesName)) {
        problems.push(
          `${manifest.name} (${relative(root, file)}): the published types import "${specifier}", which is neither a dependency nor a peer dependency (consumers with skipLibCheck: false fail)`,
        );
      }
    }
  }
}

/** Every problem of the repository's packages, as lines to print; empty when all is in shape. */
export function checkPackages(root) {
  const problems = [];
  const packages = workspacePackages(root);
  const versions = new Map(packages.map(({ manifest }) => [manifest.name, manifest.version]));
  for (const entry of packages) {
    checkInternalRanges(entry, versions, root, problems);
    // The template is private (never published) but is the shape authors copy: it keeps it too.
    if (isPluginPackage(entry.folder)) checkPluginShape(entry, root, problems);
    if (entry.manifest.private) continue;
    checkMetadata(entry, root, problems);
    checkDeclarations(entry, root, problems);
  }
  for (const [name, range] of Object.entries(readJson(join(root, 'package.json')).devDependencies ?? {})) {
    if (versions.has(name) && !caretSatisfies(range, versions.get(name))) problems.push(`package.json: devDependencies.${name} is "${range}"; use a caret range`);
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
  const problems = checkPackages(root);
  if (problems.length > 0) {
    process.stderr.write(`check-packages: ${problems.length} problem(s) (see docs/plugin-authoring.md):\n${problems.map((problem) => `  - ${problem}`).join('\n')}\n`);
    process.exit(1);
  }
  process.stdout.write(`check-packages: ${workspacePackages(root).length} packages in shape\n`);
}
