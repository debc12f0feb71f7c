/**
 * A tour of EpochDB in one short program: `pnpm demo`.
 *
 * Four async "cashiers" move money between accounts in concurrent
 * transactions while sessions with a TTL come and go, a snapshot reads a
 * frozen view in the middle of it all, and time travel reads the past; then
 * the database is backed up to a directory, written durably, and reopened.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
console.log('\n2. Four cashiers make 40 transfers concurrently (serializable transactions)');
const names = ['ada', 'bob', 'cy', 'dee', 'eve'];
let attempts = 0;
async function transfer(tx: Transaction, from: string, to: string, amount: number): Promise<boolean> {
  attempts++;
  const a = tx.get(`account:${from}`) as { owner: string; balance: number };
  await new Promise((resolve) => setImmediate(resolve)); // other cashiers run here
  const b = tx.get(`account:${to}`) as { owner: string; balance: number };
  if (a.balance < amount) return false;
  tx.put(`account:${from}`, { ...a, balance: a.balance - amount }, { type: 'account', run: 'cashier' });
  tx.put(`account:${to}`, { ...b, balance: b.balance + amount }, { type: 'account', run: 'cashier' });
  return true;
}
const cashiers = [0, 1, 2, 3].map(async (cashier) => {
  let done = 0;
  for (let i = 0; i < 10; i++) {
    const from = names[(cashier + i) % 5]!;
    const to = names[(cashier + 2 * i + 1) % 5]!;
    if (from === to) continue;
    const ok = await db.transaction((tx) => transfer(tx, from, to, 7), { isolation: 'serializable', retries: 20 });
    if (ok) done++;
  }
  return done;
});
const done = (await Promise.all(cashiers)).reduce((a, b) => a + b, 0);
log(`${done} transfers committed in ${attempts} attempts (${attempts - done} re-runs after conflicts)`);

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
log(`45 minutes later: ${[...db.byType('session')].map((e) => e.key).join(', ')} (expired ones vanish at once)`);
await new Promise((resolve) => setTimeout(resolve, 60)); // let the cleaner's timer fire
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

console.log('\n7. db.stats()');
console.log(db.stats());

// 8. Durability: the same API on a directory; a backup of the in-memory database
//    opens as a persistent one, and a reopen recovers every acknowledged commit.
console.log('\n8. Persistence');
const dir = await mkdtemp(join(tmpdir(), 'epochdb-demo-'));
await db.backup(join(dir, 'db'));
await db.close();
let disk = await open({ dir: join(dir, 'db'), sync: 'always' });
log(`opened the backup: version ${disk.version}, ${disk.stats().keys} keys, bob is vip: ${(disk.get('account:bob') as { vip?: boolean }).vip}`);
const committed = await Promise.all(names.map((name) => disk.put(`audit:${name}`, { checked: true }, { type: 'audit' })));
log(`5 concurrent durable puts -> versions ${committed.join(', ')} with ${disk.stats().walSyncs} fdatasync(s) (group commit)`);
await disk.close(); // writes a checkpoint
disk = await open({ dir: join(dir, 'db') });
log(`reopened: version ${disk.version}, audit entries: ${[...disk.byType('audit')].length}, recovered from checkpoint ${disk.recovery?.checkpointVersion}`);
await disk.close();
await rm(dir, { recursive: true, force: true });
