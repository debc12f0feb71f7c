/**
 * What `pnpm install` shows a newcomer: the `epochdb` bin must be a committed
 * file (a bin pointing into dist/ does not exist at install time, and pnpm
 * warns "Failed to create bin"), and every dependency with a build script must
 * be decided in pnpm-workspace.yaml (otherwise pnpm prints its "Ignored build
 * scripts" box).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

/** The names listed under `key:` in pnpm-workspace.yaml. */
function workspaceList(key: string): string[] {
  const lines = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8').split('\n');
  const start = lines.indexOf(`${key}:`);
  if (start < 0) return [];
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const item = /^\s+-\s+(\S+)\s*$/.exec(line);
    if (item === null) break;
    names.push(item[1]!);
  }
  return names;
}

describe('install', () => {
  it('the epochdb bin is a committed script outside dist/ that runs the built command line', async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'packages/epochdb/package.json'), 'utf8')) as { bin: Record<string, string>; files: string[] };
    const bin = pkg.bin['epochdb']!;
    expect(bin).not.toMatch(/dist\//);
    expect(pkg.files).toContain(bin.replace(/^\.\//, '').split('/')[0]);
    const tracked = (await run('git', ['ls-files', '--error-unmatch', join('packages/epochdb', bin)], { cwd: root })).stdout.trim();
    expect(tracked).toBe(join('packages/epochdb', bin.replace(/^\.\//, '')));
    const help = await run(process.execPath, [join(root, 'packages/epochdb', bin), '--help']);
    expect(help.stdout).toMatch(/^Usage: epochdb /);
  });

  it('every installed dependency with a build script is either allowed or ignored in pnpm-workspace.yaml', () => {
    const decided = new Set([...workspaceList('onlyBuiltDependencies'), ...workspaceList('ignoredBuiltDependencies')]);
    expect(decided.size).toBeGreaterThan(0);
    const store = join(root, 'node_modules/.pnpm');
    const withScripts = new Set<string>();
    for (const entry of readdirSync(store)) {
      const modules = join(store, entry, 'node_modules');
      if (!existsSync(modules)) continue;
      // The package itself is node_modules/<name> (or @scope/<name>); its dependencies sit beside it.
      const name = entry.startsWith('@') ? entry.slice(0, entry.indexOf('@', 1)).replace('+', '/') : entry.slice(0, entry.indexOf('@'));
      const manifest = join(modules, name, 'package.json');
      if (!existsSync(manifest)) continue;
      const scripts = (JSON.parse(readFileSync(manifest, 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
      if (['preinstall', 'install', 'postinstall'].some((s) => scripts[s] !== undefined)) withScripts.add(name);
    }
    expect(withScripts.size).toBeGreaterThan(0);
    expect([...withScripts].filter((name) => !decided.has(name)).sort()).toStrictEqual([]);
  });
});
