// IDs without Redis, for processes on one host: the worker ID comes from a file pool
// (stale entries of dead processes are reclaimed, above their last IDs).
//
//   node build/examples/local-ids.js

import { Snowflake, localSnowflake } from '../src/index.js';

const ids = await localSnowflake({ layout: 'twitter' });
const id = ids.next();
console.log(`worker ${ids.workerId}: ${id}`, ids.decode(id));
console.log('a batch of 4096:', ids.nextBatch(4096).length);
await ids.release();

// Or a fixed worker ID you manage yourself:
const fixed = new Snowflake({ workerId: 7, layout: 'sonyflake' });
console.log('fixed worker 7:', fixed.nextString());
