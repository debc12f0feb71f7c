import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { open, type Database, type OpenOptions } from 'epochdb';

/**
 * Databases and temporary directories for one test file, closed and removed
 * after each test. `defaults` are merged under every `openDb`'s options.
 */
export function useDatabases(defaults: OpenOptions = {}, prefix = 'epochdb-test-'): { openDb(options?: OpenOptions): Promise<Database>; tempDir(): string } {
  const dbs: Database[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.close().catch(() => undefined);
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return {
    async openDb(options = {}) {
      const db = await open({ ...defaults, ...options });
      dbs.push(db);
      return db;
    },
    tempDir() {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
  };
}
