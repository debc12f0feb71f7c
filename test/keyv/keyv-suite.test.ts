import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import Keyv from 'keyv';
import * as vitest from 'vitest';
import { open, type Database } from 'epochdb';
import { EpochKeyv, enableKeyvIterator } from 'epochdb/keyv';

// @keyv/test-suite, unmodified, against EpochKeyv over a persistent database. Its factory is
// called for every Keyv instance it makes and they must share data (its hooks clear through
// one instance what a test wrote through another), so every store wraps one database.

const dir = mkdtempSync(join(tmpdir(), 'epochdb-keyv-suite-'));
let db: Database | undefined;
vitest.beforeAll(async () => {
  db = await open({ dir, workers: 0, maintenance: { intervalMs: 0 } });
});
vitest.afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});
const store = (): EpochKeyv => new EpochKeyv(db!);

vitest.describe('@keyv/test-suite: api, values, namespaces', () => {
  keyvTestSuite(vitest, Keyv, store);
});

/** Keyv with its iterator wired to the adapter's (Keyv 5 does so itself only for the dialects it knows). */
class IterableKeyv extends Keyv {
  constructor(options?: ConstructorParameters<typeof Keyv>[0]) {
    super(options);
    enableKeyvIterator(this);
  }
}

vitest.describe('@keyv/test-suite: iterator', () => {
  keyvIteratorTests(vitest, IterableKeyv as typeof Keyv, store);
});
