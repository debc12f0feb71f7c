import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, open, type Database, type Entry, type Isolation, type OpenOptions, type Transaction } from 'epochdb';
import { prng } from '../support/prng.js';

// ---------------------------------------------------------------- helpers

const opened: Database[] = [];

async function fresh(options: OpenOptions = {}): Promise<Database> {
  const db = await open({ maintenance: { intervalMs: 0 }, ...options });
  opened.push(db);
  return db;
}

afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
});

const ISOLATIONS: readonly Isolation[] = ['snapshot', 'serializable'];

/** One full turn of the event loop. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));


/** Yields `n` times, mixing microtask and event-loop turns, so concurrent callbacks truly interleave. */
async function yieldRandomly(random: () => number, max = 3): Promise<void> {
  const n = Math.floor(random() * (max + 1));
  for (let i = 0; i < n; i++) {
    if (random() < 0.5) await Promise.resolve();
    else await tick();
  }
}

const sum = (entries: Iterable<Entry>): number => {
  let total = 0;
  for (const e of entries) total += e.value as number;
  return total;
};

// ---------------------------------------------------------------- (a) bank transfers

describe('(a) bank transfers between accounts', () => {
  const ACCOUNTS = 8;
  const INITIAL = 100;
  const TOTAL = ACCOUNTS * INITIAL;
  const account = (i: number): string => `acct:${String(i).padStart(2, '0')}`;

  for (const isolation of ISOLATIONS) {
    it(`conserve the total in every snapshot and never overdraw (${isolation})`, async () => {
      const db = await fresh({ maintenance: { intervalMs: 1 } }); // GC and maintenance running underneath
      await db.batch(Array.from({ length: ACCOUNTS }, (_, i) => ({ op: 'put' as const, key: account(i), value: INITIAL, type: 'account' })));
      const random = prng(isolation === 'snapshot' ? 11 : 22);

      let attempts = 0;
      let moved = 0;
      let refused = 0;
      const transfer = (from: number, to: number, amount: number): Promise<boolean> =>
        db.transaction(
          async (tx) => {
            attempts++;
            const balance = tx.get(account(from)) as number;
            await yieldRandomly(random);
            if (balance < amount) return false; // the balance check
            const target = tx.get(account(to)) as number;
            await yieldRandomly(random);
            tx.put(account(from), balance - amount, { type: 'account' });
            await yieldRandomly(random, 1);
            tx.put(account(to), target + amount, { type: 'account' });
            return true;
          },
          { isolation, retries: 1000 },
        );

      // Observers: every way of reading the whole state must always see the same total and no negative balance.
      let done = false;
      const totals: number[] = [];
      const negatives: string[] = [];
      const observer = (async () => {
        while (!done) {
          const snapshot = db.snapshot();
          const entries = [...snapshot.scan()];
          for (const e of entries) if ((e.value as number) < 0) negatives.push(`${e.key}=${String(e.value)}@${snapshot.version}`);
          totals.push(sum(entries));
          await tick(); // the snapshot stays consistent across awaits
          totals.push(sum(snapshot.byType('account')));
          snapshot.release();
          totals.push(sum(db.scan()));
          const reader = db.begin({ isolation });
          totals.push(sum(reader.scan({ prefix: 'acct:' })));
          await reader.commit();
          await Promise.resolve();
        }
      })();

      const WORKERS = 16;
      const PER_WORKER = 20;
      const plan = Array.from({ length: WORKERS }, () =>
        Array.from({ length: PER_WORKER }, () => {
          const from = Math.floor(random() * ACCOUNTS);
          const to = (from + 1 + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS;
          return { from, to, amount: 1 + Math.floor(random() * 90) };
        }),
      );
      await Promise.all(
        plan.map(async (transfers) => {
          for (const { from, to, amount } of transfers) {
            if (await transfer(from, to, amount)) moved++;
            else refused++;
          }
        }),
      );
      done = true;
      await observer;

      const final = [...db.scan()];
      expect(final).toHaveLength(ACCOUNTS);
      expect(sum(final)).toBe(TOTAL);
      expect(final.every((e) => (e.value as number) >= 0)).toBe(true);
      expect(negatives).toEqual([]);
      expect(totals.length).toBeGreaterThan(50);
      expect(totals.filter((t) => t !== TOTAL)).toEqual([]);
      expect(moved + refused).toBe(WORKERS * PER_WORKER);
      expect(moved).toBeGreaterThan(0);
      // The interleaving was real: transactions lost and were re-run.
      expect(attempts).toBeGreaterThan(WORKERS * PER_WORKER);
      expect(db.stats().openTransactions).toBe(0);
    });
  }
});

// ---------------------------------------------------------------- (b) write skew

describe('(b) write skew: the on-call doctors', () => {
  const DOCTORS = ['alice', 'bob'];
  const key = (name: string): string => `oncall:${name}`;

  async function hospital(doctors = DOCTORS): Promise<Database> {
    const db = await fresh();
    await db.batch(doctors.map((d) => ({ op: 'put' as const, key: key(d), value: true })));
    return db;
  }
  const onCall = (db: Database, doctors = DOCTORS): number => doctors.filter((d) => db.get(key(d)) === true).length;

  /** Reads everyone (point reads), and goes off call if someone else is still on call. */
  async function goOffCall(tx: Transaction, me: string, doctors: readonly string[], pause: () => Promise<void>): Promise<boolean> {
    let count = 0;
    for (const d of doctors) {
      if (tx.get(key(d)) === true) count++;
      await pause();
    }
    if (count < 2) return false;
    tx.put(key(me), false);
    await pause();
    return true;
  }

  it("'snapshot' allows the anomaly: with both reads before both writes, nobody stays on call", async () => {
    const db = await hospital();
    let arrived = 0;
    let release!: () => void;
    const barrier = new Promise<void>((resolve) => (release = resolve));
    const bothRead = async (): Promise<void> => {
      if (++arrived === 2) release();
      await barrier;
    };
    let attempts = 0;
    const shift = (me: string): Promise<boolean> =>
      db.transaction(
        async (tx) => {
          attempts++;
          const count = DOCTORS.filter((d) => tx.get(key(d)) === true).length;
          await bothRead(); // deterministic: both transactions have read before either writes
          if (count < 2) return false;
          tx.put(key(me), false);
          return true;
        },
        { isolation: 'snapshot' },
      );
    const results = await Promise.all([shift('alice'), shift('bob')]);
    expect(results).toEqual([true, true]);
    expect(attempts).toBe(2); // no conflict was detected
    expect(onCall(db)).toBe(0); // the constraint "at least one on call" is broken
  });

  it("'snapshot' with manual transactions: both commit, the anomaly is there", async () => {
    const db = await hospital();
    const t1 = db.begin({ isolation: 'snapshot' });
    const t2 = db.begin({ isolation: 'snapshot' });
    expect([t1.get(key('alice')), t1.get(key('bob')), t2.get(key('alice')), t2.get(key('bob'))]).toEqual([true, true, true, true]);
    t1.put(key('alice'), false);
    t2.put(key('bob'), false);
    await t1.commit();
    await t2.commit();
    expect(onCall(db)).toBe(0);
  });

  it("'serializable' refuses the same interleaving: the second committer gets a ConflictError", async () => {
    const db = await hospital();
    const t1 = db.begin({ isolation: 'serializable' });
    const t2 = db.begin({ isolation: 'serializable' });
    for (const tx of [t1, t2]) for (const d of DOCTORS) tx.get(key(d));
    t1.put(key('alice'), false);
    t2.put(key('bob'), false);
    await t1.commit();
    const error = await t2.commit().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).key).toBe(key('alice'));
    expect(onCall(db)).toBe(1);
  });

  it("'serializable' with the barrier interleaving and retries: exactly one doctor goes off call", async () => {
    const db = await hospital();
    let arrived = 0;
    let release!: () => void;
    const barrier = new Promise<void>((resolve) => (release = resolve));
    let attempts = 0;
    const shift = (me: string): Promise<boolean> =>
      db.transaction(
        async (tx) => {
          attempts++;
          const count = DOCTORS.filter((d) => tx.get(key(d)) === true).length;
          if (++arrived === 2) release();
          await barrier;
          if (count < 2) return false;
          tx.put(key(me), false);
          return true;
        },
        { isolation: 'serializable', retries: 3 },
      );
    const results = await Promise.all([shift('alice'), shift('bob')]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(attempts).toBe(3);
    expect(onCall(db)).toBe(1);
  });

  it("fc.scheduler: under 'serializable' no interleaving breaks the constraint (point reads and range reads)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 2, max: 4 }), fc.boolean(), async (s, doctorCount, viaScan) => {
        const doctors = ['alice', 'bob', 'carol', 'dave'].slice(0, doctorCount);
        const db = await open({ maintenance: { intervalMs: 0 } });
        try {
          await db.batch(doctors.map((d) => ({ op: 'put' as const, key: key(d), value: true })));
          const pause = (): Promise<void> => s.schedule(Promise.resolve());
          // The start is scheduled too: a transaction's snapshot is taken when db.transaction() is called.
          const shift = async (me: string): Promise<boolean> => {
            await pause();
            return db.transaction(
              async (tx) => {
                await pause();
                if (!viaScan) return goOffCall(tx, me, doctors, pause);
                // The same decision made through a range read.
                const count = [...tx.scan({ prefix: 'oncall:' })].filter((e) => e.value === true).length;
                await pause();
                if (count < 2) return false;
                tx.put(key(me), false);
                await pause();
                return true;
              },
              { isolation: 'serializable', retries: 20 },
            );
          };
          const all = Promise.all(doctors.map(shift));
          const results = await s.waitFor(all);
          // Serial outcome: everyone but the last goes off call, one by one.
          expect(onCall(db, doctors)).toBe(1);
          expect(results.filter(Boolean)).toHaveLength(doctorCount - 1);
        } finally {
          await db.close();
        }
      }),
      { numRuns: 150 },
    );
  });

  it("fc.scheduler: under 'snapshot' the explorer does find interleavings with the anomaly (so the serializable run is meaningful)", async () => {
    let anomalies = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), async (s) => {
        const db = await open({ maintenance: { intervalMs: 0 } });
        try {
          await db.batch(DOCTORS.map((d) => ({ op: 'put' as const, key: key(d), value: true })));
          const pause = (): Promise<void> => s.schedule(Promise.resolve());
          const shift = async (me: string): Promise<boolean> => {
            await pause();
            return db.transaction(async (tx) => {
              await pause();
              return goOffCall(tx, me, DOCTORS, pause);
            });
          };
          await s.waitFor(Promise.all(DOCTORS.map(shift)));
          runs++;
          const left = onCall(db);
          expect(left).toBeGreaterThanOrEqual(0);
          expect(left).toBeLessThanOrEqual(1);
          if (left === 0) anomalies++;
        } finally {
          await db.close();
        }
      }),
      { numRuns: 100, seed: 4242 },
    );
    expect(runs).toBe(100);
    expect(anomalies).toBeGreaterThan(0);
    expect(anomalies).toBeLessThan(runs); // some interleavings are serial and keep one doctor
  });

  it("random setImmediate interleavings with more doctors: 'serializable' always keeps someone on call", async () => {
    const doctors = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'];
    for (let round = 0; round < 40; round++) {
      const random = prng(1000 + round);
      const db = await hospital(doctors);
      let attempts = 0;
      await Promise.all(
        doctors.map((me) =>
          db.transaction(
            async (tx) => {
              attempts++;
              await yieldRandomly(random);
              return goOffCall(tx, me, doctors, () => yieldRandomly(random));
            },
            { isolation: 'serializable', retries: 50 },
          ),
        ),
      );
      expect(onCall(db, doctors)).toBe(1);
      expect(attempts).toBeGreaterThanOrEqual(doctors.length);
    }
  });
});

// ---------------------------------------------------------------- (c) counter

describe('(c) a counter under 50 concurrent read-modify-write transactions', () => {
  for (const isolation of ISOLATIONS) {
    it(`ends exactly at 50 with enough retries (${isolation})`, async () => {
      const db = await fresh();
      await db.put('counter', 0);
      const random = prng(isolation === 'snapshot' ? 5 : 6);
      let attempts = 0;
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          db.transaction(
            async (tx) => {
              attempts++;
              const n = tx.get('counter') as number;
              await yieldRandomly(random);
              await tick();
              tx.put('counter', n + 1);
              return n + 1;
            },
            { isolation, retries: 100 },
          ),
        ),
      );
      expect(db.get('counter')).toBe(50);
      // Every transaction committed a distinct increment: the values written are exactly 1..50.
      expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(attempts).toBeGreaterThan(50); // there was contention
      expect(db.version).toBe(51); // one version per successful increment, none for the losers
    });

    it(`with no retries, every lost update is reported as a ConflictError (${isolation})`, async () => {
      const db = await fresh();
      await db.put('counter', 0);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          db.transaction(
            async (tx) => {
              const n = tx.get('counter') as number;
              for (let k = 0; k < i % 4; k++) await tick();
              tx.put('counter', n + 1);
            },
            { isolation, retries: 0 },
          ),
        ),
      );
      const fulfilled = outcomes.filter((o) => o.status === 'fulfilled').length;
      const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(fulfilled).toBeGreaterThan(0);
      expect(rejected.length).toBeGreaterThan(0);
      expect(rejected.every((o) => o.reason instanceof ConflictError && (o.reason as ConflictError).key === 'counter')).toBe(true);
      expect(db.get('counter')).toBe(fulfilled);
    });
  }

  it('property: any mix of isolation levels and yield patterns ends at the number of increments', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ isolation: fc.constantFrom(...ISOLATIONS), yields: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 25 }),
        async (incrementers) => {
          const db = await open({ maintenance: { intervalMs: 0 } });
          try {
            await Promise.all(
              incrementers.map(({ isolation, yields }) =>
                db.transaction(
                  async (tx) => {
                    const n = (tx.get('counter') as number | undefined) ?? 0;
                    for (let k = 0; k < yields; k++) await tick();
                    tx.put('counter', n + 1);
                  },
                  { isolation, retries: 1000 },
                ),
              ),
            );
            expect(db.get('counter')).toBe(incrementers.length);
          } finally {
            await db.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

// ---------------------------------------------------------------- (d) scans during a burst of writes

describe('(d) scans started before a burst of concurrent writes', () => {
  const key = (i: number): string => `k:${String(i).padStart(3, '0')}`;

  async function burst(db: Database, random: () => number, count: number): Promise<void> {
    await Promise.all(
      Array.from({ length: count }, async (_, n) => {
        await yieldRandomly(random);
        const i = Math.floor(random() * 80);
        const choice = random();
        if (choice < 0.3) await db.put(key(i), { n: 1000 + n }, { run: random() < 0.5 ? 'r' : 's', type: 't' });
        else if (choice < 0.5) await db.delete(key(i));
        else if (choice < 0.7)
          await db.batch([
            { op: 'put', key: key(i), value: { n: 2000 + n }, run: 'r' },
            { op: 'delete', key: key((i + 7) % 80) },
            { op: 'put', key: `k:${String(i).padStart(3, '0')}+`, value: { n }, type: 't' },
          ]);
        else
          await db.transaction(
            async (tx) => {
              tx.put(key(i), { n: 3000 + n }, { run: 'r', type: 't' });
              await tick();
              tx.delete(key((i + 3) % 80));
            },
            { retries: 1000 },
          );
      }),
    );
  }

  it('see exactly the state at scan start, iterated one entry per await', async () => {
    // Maintenance with a 1 ms timer reclaims superseded versions while the scans are open.
    const db = await fresh({ maintenance: { intervalMs: 1 } });
    const ops = [];
    for (let i = 0; i < 60; i++) ops.push({ op: 'put' as const, key: key(i), value: { n: i }, ...(i % 2 === 0 ? { run: 'r' } : {}), ...(i % 3 === 0 ? { type: 't' } : {}) });
    await db.batch(ops);
    await db.delete(key(5));

    const snapshot = db.snapshot();
    const tx = db.begin({ isolation: 'serializable' });
    tx.put(key(70), { n: 'own' }, { run: 'r', type: 't' });
    tx.delete(key(10));
    const project = (entries: Iterable<Entry>): string[] => [...entries].map((e) => `${e.key}=${JSON.stringify(e.value)}@${e.version}`);

    type Scan = { name: string; iterator: Iterator<Entry>; expected: string[] };
    const scans: Scan[] = [];
    const add = (name: string, open: () => Iterable<Entry>): void => {
      // `expected` is read eagerly right now; `iterator` is the same scan, read lazily during the burst.
      scans.push({ name, expected: project(open()), iterator: open()[Symbol.iterator]() });
    };
    add('db.scan', () => db.scan());
    add('db.scan reverse+limit', () => db.scan({ reverse: true, limit: 25 }));
    add('db.byRun', () => db.byRun('r'));
    add('db.byType prefix', () => db.byType('t', { prefix: 'k:0' }));
    add('snapshot.scan', () => snapshot.scan({ gte: key(10), lt: key(50) }));
    add('snapshot.byRun reverse', () => snapshot.byRun('r', { reverse: true }));
    add('tx.scan', () => tx.scan());
    add('tx.byRun reverse', () => tx.byRun('r', { reverse: true }));
    add('tx.byType limit', () => tx.byType('t', { limit: 15 }));
    const startVersion = db.version;
    const startTotal = project(db.scan());

    const seen = new Map<string, string[]>(scans.map((s) => [s.name, []]));
    const readers = scans.map(async (s) => {
      for (;;) {
        await tick();
        const next = s.iterator.next();
        if (next.done === true) return;
        seen.get(s.name)!.push(project([next.value])[0]!);
      }
    });
    await Promise.all([burst(db, prng(77), 150), ...readers]);

    expect(db.version).toBeGreaterThan(startVersion + 100); // the burst really happened during the scans
    expect(project(db.scan())).not.toEqual(startTotal);
    for (const s of scans) {
      expect(s.expected.length, s.name).toBeGreaterThan(0);
      expect(seen.get(s.name), s.name).toEqual(s.expected);
    }
    // Repeated reads of the snapshot and the transaction still agree with their start.
    expect(snapshot.get(key(5))).toBeUndefined();
    expect(tx.get(key(10))).toBeUndefined();
    expect(snapshot.version).toBe(startVersion);
    snapshot.release();
    tx.abort();
  });

  it('a database scan with no snapshot or transaction open is just as stable (nothing pins history)', async () => {
    const db = await fresh();
    await db.batch(Array.from({ length: 200 }, (_, i) => ({ op: 'put' as const, key: key(i * 2), value: i, run: 'r' })));
    expect(db.stats().openSnapshots + db.stats().openTransactions).toBe(0);
    const expected = [...db.scan()].map((e) => [e.key, e.value]);
    const expectedRun = [...db.byRun('r', { reverse: true })].map((e) => e.key);
    const iterator = db.scan();
    const runIterator = db.byRun('r', { reverse: true });
    const random = prng(12);
    const seen: unknown[][] = [];
    const seenRun: string[] = [];
    const writers = Promise.all(
      Array.from({ length: 300 }, async (_, n) => {
        await yieldRandomly(random, 4);
        const i = Math.floor(random() * 400);
        if (n % 3 === 0) await db.delete(key(i));
        else await db.put(key(i), -n, { run: n % 2 === 0 ? 'r' : 's' }); // new keys between old ones, and overwrites
      }),
    );
    for (let next = iterator.next(), run = runIterator.next(); next.done !== true || run.done !== true; ) {
      if (next.done !== true) {
        seen.push([next.value.key, next.value.value]);
        next = iterator.next();
      }
      if (run.done !== true) {
        seenRun.push(run.value.key);
        run = runIterator.next();
      }
      await (seen.length % 2 === 0 ? tick() : Promise.resolve());
    }
    await writers;
    expect(db.version).toBeGreaterThan(250);
    expect(seen).toEqual(expected);
    expect(seenRun).toEqual(expectedRun);
  });

  it('a read-only transaction iterating a scan across awaits sees one consistent state while others commit', async () => {
    const db = await fresh();
    await db.batch(Array.from({ length: 30 }, (_, i) => ({ op: 'put' as const, key: key(i), value: 10 })));
    const random = prng(3);
    const writers = Promise.all(
      Array.from({ length: 60 }, async () => {
        await yieldRandomly(random, 5);
        // Move value between two keys: the total stays 300 in every committed state.
        await db.transaction(
          async (tx) => {
            const a = key(Math.floor(random() * 30));
            const b = key(Math.floor(random() * 30));
            if (a === b) return;
            const va = tx.get(a) as number;
            const vb = tx.get(b) as number;
            await tick();
            tx.put(a, va - 1);
            tx.put(b, vb + 1);
          },
          { retries: 1000 },
        );
      }),
    );
    const totals: number[] = [];
    for (let round = 0; round < 6; round++) {
      await db.transaction(
        async (tx) => {
          let total = 0;
          for (const e of tx.scan()) {
            total += e.value as number;
            await tick();
          }
          totals.push(total);
        },
        { isolation: 'serializable', retries: 0 }, // read-only: may not conflict
      );
    }
    await writers;
    expect(totals).toEqual([300, 300, 300, 300, 300, 300]);
    expect(sum(db.scan())).toBe(300);
  });
});

// ---------------------------------------------------------------- (e) versions

describe('(e) commit versions under concurrency', () => {
  it('are unique and strictly increasing in commit order (manual transactions, puts and batches mixed)', async () => {
    const db = await fresh();
    const random = prng(9);
    const committed: { version: number; observed: number; key: string }[] = [];
    const failures: unknown[] = [];
    await Promise.all(
      Array.from({ length: 120 }, async (_, i) => {
        await yieldRandomly(random, 4);
        const k = `w:${i % 40}`;
        const kind = i % 3;
        if (kind === 0) {
          const tx = db.begin({ isolation: i % 2 === 0 ? 'snapshot' : 'serializable' });
          tx.get(k);
          tx.put(k, i);
          tx.put(`own:${i}`, i);
          await yieldRandomly(random, 3);
          const promise = tx.commit();
          const observed = db.version; // the commit step is synchronous
          try {
            const version = await promise;
            committed.push({ version, observed, key: `own:${i}` });
          } catch (error) {
            failures.push(error);
          }
        } else {
          const promise = kind === 1 ? db.put(`own:${i}`, i) : db.batch([{ op: 'put', key: `own:${i}`, value: i }, { op: 'put', key: k, value: i }]);
          const observed = db.version;
          committed.push({ version: await promise, observed, key: `own:${i}` });
        }
      }),
    );
    const versions = committed.map((c) => c.version);
    expect(new Set(versions).size).toBe(versions.length);
    // Resolution order (all promises settle after the same number of microtask steps) is commit order.
    for (let i = 1; i < versions.length; i++) expect(versions[i]!).toBeGreaterThan(versions[i - 1]!);
    for (const c of committed) {
      expect(c.version).toBe(c.observed);
      expect(db.getEntry(c.key)?.version).toBe(c.version);
    }
    // Failed commits took no version: versions are exactly 1..N.
    expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
    expect(db.version).toBe(versions.length);
    expect(failures.every((f) => f instanceof ConflictError)).toBe(true);
    expect(failures.length).toBeGreaterThan(0);
  });

  it('db.transaction(): each committed transaction has its own version, increasing in the order the calls resolve', async () => {
    const db = await fresh({ retainVersions: 1000 });
    const random = prng(10);
    const resolved: { version: number; id: number; tx: Transaction }[] = [];
    await Promise.all(
      Array.from({ length: 60 }, (_, id) =>
        db
          .transaction(
            async (tx) => {
              const n = (tx.get('shared') as number | undefined) ?? 0;
              await yieldRandomly(random, 3);
              if (id % 2 === 0) tx.put('shared', n + 1);
              tx.put(`t:${id}`, id);
              tx.put(`u:${id}`, id);
              return tx;
            },
            { isolation: id % 3 === 0 ? 'serializable' : 'snapshot', retries: 1000 },
          )
          .then((tx) => resolved.push({ version: tx.commitVersion!, id, tx })),
      ),
    );
    const versions = resolved.map((r) => r.version);
    expect(new Set(versions).size).toBe(60);
    for (let i = 1; i < versions.length; i++) expect(versions[i]!).toBeGreaterThan(versions[i - 1]!);
    expect(db.get('shared')).toBe(30);
    for (const { version, id } of resolved) {
      expect(db.getEntry(`t:${id}`)?.version).toBe(version);
      expect(db.getEntry(`u:${id}`)?.version).toBe(version);
      // Atomic: the version before it shows neither of this transaction's keys, the version itself both.
      const before = db.snapshotAt(version - 1);
      const at = db.snapshotAt(version);
      expect([before.has(`t:${id}`), before.has(`u:${id}`)]).toEqual([false, false]);
      expect([at.get(`t:${id}`), at.get(`u:${id}`)]).toEqual([id, id]);
      before.release();
      at.release();
    }
  });
});
