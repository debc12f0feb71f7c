import { InvalidOptionError } from '@epochdb/core';
import { Transaction as StoreTransaction } from '@epochdb/store';
import type { Collection, TxCollection } from './collection.js';

/**
 * A transaction of a database: the store's transaction (reads at its start
 * version plus its own writes, committed atomically), plus typed access to the
 * database's collections with {@link Transaction.collection}. `db.begin()` and
 * `db.transaction()` hand out these; the store opens them through its
 * `transactionClass` extension point and knows nothing of collections.
 */
export class Transaction extends StoreTransaction {
  /**
   * A typed view of a collection inside this transaction: pass the
   * collection (`tx.collection(users)`, typed) or its name
   * (`tx.collection('users')`). Collections are defined with
   * `db.collection(name, { schema })`.
   */
  collection<C extends { in(tx: Transaction): unknown }>(collection: C): ReturnType<C['in']>;
  collection(name: string): TxCollection;
  collection(collection: string | { in(tx: Transaction): unknown }): unknown {
    this.assertActive('collection');
    if (typeof collection !== 'string') return collection.in(this);
    const found = this.findCollection(collection);
    if (found === undefined) throw new InvalidOptionError(`tx.collection(): no collection named ${JSON.stringify(collection)} is defined (db.collection(name, { schema }))`);
    return found.in(this);
  }

  /** The database's collection named `name` (a database's own subclass knows them: see {@link transactionClassFor}). */
  protected findCollection(_name: string): Collection | undefined {
    return undefined;
  }
}

/** The transaction class of one database: a {@link Transaction} that finds collections with `find`. */
export function transactionClassFor(find: (name: string) => Collection | undefined): typeof StoreTransaction {
  return class DatabaseTransaction extends Transaction {
    protected override findCollection(name: string): Collection | undefined {
      return find(name);
    }
  };
}
