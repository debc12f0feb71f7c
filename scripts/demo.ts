/**
 * A tour of EpochDB in one short program: `pnpm demo`.
 *
 * Four async "cashiers" move money between accounts in concurrent
 * transactions while sessions with a TTL come and go, a snapshot reads a
 * frozen view in the middle of it all, and time travel reads the past; then
 * the database is backed up to a directory, written durably, reopened, and
 * read with the `epochdb` command line.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ManualClock, open, type Transaction } from 'epochdb';

const clock = new ManualClock(Date.UTC(2026, 0, 1)); // injected time: TTLs without sleeping
const db = await open({ clock, maintenance: { intervalMs: 20 } });
const log = (...args: unknown[]): void => console.log(' ', ...args);

// 1. Plain writes, tagged with a run (who wrote it) and a type (what it is).
console.log('\n1. Accounts: five puts, each resolving to its commit version');
for (const name of ['ada', 'bob', 'cy', 'dee', 'eve']) {
  const version = await db.put(`account:${name}`, { owner: name, balance: 100 }, { type: 'account', run: 'setup' });
  log(`account:${name} written at version ${version}`);
}
const before = db.version;

// 2. A snapshot: O(1), and it keeps seeing this moment while writes go on.
const snapshot = db.snapshot();

// 3. Concurrent transactions that interleave across awaits.
const CASHIERS = 4;
const TRANSFERS_EACH = 10;
console.log(`\n2. ${CASHIERS} cashiers make ${CASHIERS * TRANSFERS_EACH} transfers concurrently (serializable transactions)`);
const names = ['ada', 'bob', 'cy', 'dee', 'eve'];
let attempts = 0;
async function transfer(tx: Transaction, from: string, to: string, amount: number): Promise<boolean> {
  attempts++;
  const a = tx.get<{ owner: string; balance: number }>(`account:${from}`)!;
  await new Promise((resolve) => setImmediate(resolve)); // other cashiers run here
  const b = tx.get<{ owner: string; balance: number }>(`account:${to}`)!;
  if (a.balance < amount) return false;
  tx.put(`account:${from}`, { ...a, balance: a.balance - amount }, { type: 'account', run: 'cashier' });
  tx.put(`account:${to}`, { ...b, balance: b.balance + amount }, { type: 'account', run: 'cashier' });
  return true;
}
const cashiers = Array.from({ length: CASHIERS }, async (_, cashier) => {
  let committed = 0;
  let declined = 0;
  for (let i = 0; i < TRANSFERS_EACH; i++) {
    const from = (cashier + i) % names.length;
    const to = (from + 1 + (i % (names.length - 1))) % names.length; // never the same account
    const ok = await db.transaction((tx) => transfer(tx, names[from]!, names[to]!, 7), { isolation: 'serializable', retries: 20 });
    if (ok) committed++;
    else declined++;
  }
  return { committed, declined };
});
const outcomes = await Promise.all(cashiers);
const committed = outcomes.reduce((sum, o) => sum + o.committed, 0);
const declined = outcomes.reduce((sum, o) => sum + o.declined, 0);
log(`${committed} transfers committed, ${declined} declined for lack of funds, in ${attempts} attempts: ${attempts - committed - declined} re-runs after conflicts, none lost`);

const total = (reader: { byType(t: string): Iterable<{ value: unknown }> }): number =>
  [...reader.byType('account')].reduce((sum, e) => sum + (e.value as { balance: number }).balance, 0);
log(`total now: ${total(db)}   total in the snapshot taken before: ${total(snapshot)} (money is conserved)`);
log(`snapshot still sees version ${snapshot.version}; ada there has ${(snapshot.get('account:ada') as { balance: number }).balance}`);

// 4. Time travel: the snapshot pins history, so any version since then is readable.
console.log('\n3. Time travel with snapshotAt');
const balanceOfAda = (reader: { get(key: string): unknown }): number => (reader.get('account:ada') as { balance: number }).balance;
const step = Math.max(1, Math.floor((db.version - before) / 4));
for (let version = before; version <= db.version; version += step) {
  using past = db.snapshotAt(version); // released at the end of this block
  log(`at version ${String(version).padStart(2)}: ada had ${balanceOfAda(past)}`);
}
log(`now (version ${db.version}): ada has ${balanceOfAda(db)}`);
snapshot.release(); // history before now may be garbage-collected from here on

// 5. TTL: sessions that expire; the background cleaner reclaims them by itself.
console.log('\n4. Sessions with a 30-minute TTL');
await db.batch(names.map((name) => ({ op: 'put' as const, key: `session:${name}`, value: { user: name }, ttl: 30 * 60_000, run: name, type: 'session' })));
await db.put('session:ada', { user: 'ada', refreshed: true }, { ttl: 60 * 60_000, run: 'ada', type: 'session' });
log(`live sessions: ${[...db.byType('session')].map((e) => e.key).join(', ')}`);
clock.advance(45 * 60_000);
log(`45 minutes later: ${[...db.byType('session')].map((e) => e.key).join(', ')} (expired sessions vanish from reads at once)`);
log('session:ada is still live: it was refreshed with a 60-minute TTL, and a put replaces the whole entry, expiry included');
// The cleaner runs on its own timer; wait until it has done its work, however busy the machine.
while (db.stats().reclaimedExpired < names.length - 1) await new Promise((resolve) => setTimeout(resolve, 10));
log(`the cleaner reclaimed ${db.stats().reclaimedExpired} expired sessions without being called`);

// 6. Queries by run and by key range.
console.log('\n5. Queries');
log(`written by run "cashier": ${[...db.byRun('cashier')].map((e) => e.key).join(', ')}`);
log(`scan prefix "account:", reverse, limit 2: ${[...db.scan({ prefix: 'account:', reverse: true, limit: 2 })].map((e) => e.key).join(', ')}`);

// 7. Conditional writes.
console.log('\n6. Conditional writes');
const entry = db.getEntry('account:bob')!;
await db.put('account:bob', { ...(entry.value as object), vip: true }, { ifVersion: entry.version, type: 'account' });
await db.put('account:bob', { stale: true }, { ifVersion: entry.version }).catch((error: Error & { code: string }) => log(`stale write refused: ${error.code}: ${error.message}`));

console.log('\n7. db.stats(): a few of its counters');
const stats = db.stats();
log(`version ${stats.version}, ${stats.keys} live keys, ${stats.storedVersions} stored versions, ~${stats.memoryBytes} bytes of data`);
log(`TTL cleaner reclaimed ${stats.reclaimedExpired}; version GC collected ${stats.collectedVersions}; ${stats.maintenancePasses} maintenance passes`);
log(`(${Object.keys(stats).length} counters in all: see "Stats" in the README)`);

// 8. Durability: the same API on a directory; a backup of the in-memory database
//    opens as a persistent one, and a reopen recovers every acknowledged commit.
console.log('\n8. Persistence');
const dir = await mkdtemp(join(tmpdir(), 'epochdb-demo-'));
const dbDir = join(dir, 'db');
await db.backup(dbDir);
await db.close();
let disk = await open({ dir: dbDir, sync: 'always' });
log(`opened the backup in ${dbDir}: version ${disk.version}, ${disk.stats().keys} keys, bob is vip: ${disk.get<{ vip?: boolean }>('account:bob')?.vip}`);
const audited = await Promise.all(names.map((name) => disk.put(`audit:${name}`, { checked: true }, { type: 'audit' })));
log(`5 concurrent durable puts -> versions ${audited.join(', ')} with ${disk.stats().walSyncs} fdatasync(s) (group commit)`);
await disk.close(); // writes a checkpoint
log(`files on disk: ${(await readdir(dbDir)).sort().join(', ')}`);
disk = await open({ dir: dbDir });
log(`reopened: version ${disk.version}, audit entries: ${[...disk.byType('audit')].length}, recovered from the checkpoint at version ${disk.recovery?.checkpointVersion}`);
await disk.close();

// 9. The command line reads the same directory (docs/cli.md).
console.log(`\n9. The command line: $ npx epochdb stats ${dbDir}`);
const bin = fileURLToPath(new URL('../packages/epochdb/bin/epochdb.js', import.meta.url));
const { stdout } = await promisify(execFile)(process.execPath, [bin, 'stats', dbDir]);
for (const line of stdout.trimEnd().split('\n')) log(line);
await rm(dir, { recursive: true, force: true });
