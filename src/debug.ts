// `NODE_DEBUG=muster` logs joins, claims, renewals, reaps, wipes and lost leases, one
// line each, to stderr (node:util debuglog); nothing is printed otherwise.

import { debuglog } from 'node:util';

export const debug = debuglog('muster');

/** An instant (ms since 1970) as ISO text, for debug lines. */
export const iso = (ms: number): string => new Date(ms).toISOString();
