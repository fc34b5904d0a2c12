// The Store contract against PostgreSQL: a real server (the run's shared
// test cluster), each store in a database of its own.
import { PostgresStore } from '../../../server/store/postgres/store.js';
import { IN_CI } from '../../helpers/env.js';
import { pgLacks, sharedCluster } from '../../helpers/postgres.js';
import { storeContract } from '../../unit/store/contract.js';

storeContract('postgres', {
  lacks: () => {
    const why = pgLacks();
    if (why && IN_CI) throw new Error(`CI must run the PostgreSQL store contract, but it ${why}`);
    return why;
  },
  open: async (server) => PostgresStore.open({ url: await (await sharedCluster()).createDatabase('contract'), server }),
});
