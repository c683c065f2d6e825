import { AsyncLocalStorage } from 'node:async_hooks';
import { SwitchboardError } from '@switchboard/contracts';

interface OpenTransaction {
  owner: object;
  open: boolean;
}

const current = new AsyncLocalStorage<OpenTransaction>();

/**
 * Throws when called from inside a transaction callback of the same database. On PGlite (and
 * through the embedded server) such a call waits for the session the transaction holds, which in
 * turn waits for the call: a silent deadlock. Failing loudly on every backend keeps code that
 * passes its tests on PGlite correct on Postgres too.
 */
export function assertNotInTransaction(owner: object): void {
  const tx = current.getStore();
  if (tx && tx.open && tx.owner === owner) {
    throw new SwitchboardError(
      'handler_error',
      'database used directly inside its own transaction callback; use the `tx` argument instead',
    );
  }
}

/** Runs `fn` marked as inside a transaction of `owner`; the mark ends when `fn` settles. */
export async function runInTransaction<T>(owner: object, fn: () => Promise<T>): Promise<T> {
  const tx: OpenTransaction = { owner, open: true };
  try {
    return await current.run(tx, fn);
  } finally {
    // Work that fn started but did not await keeps this store; it is no longer inside the tx.
    tx.open = false;
  }
}
