/*
 * A model of muster's named sequences (lua/sequence-8.lua, src/sequences/sequence.ts),
 * checked by spin.
 *
 * Two handles (members) draw numbers from one sequence in blocks of BLK and use them
 * (a used number is in the "database": the array `used`). A recoverer gives the
 * sequence a floor after a fresh start: it probes, reads the highest number in the
 * database, and sends that floor. A fault process takes a snapshot, restarts the store
 * from it (a restart from RDB/AOF that lost the latest writes, or a failover to a
 * lagging replica: a new run_id), and wipes it (the group recreated by a member that
 * knew the earlier one, so it is marked `wp`). Time advances by itself; every process
 * measures time at Redis' rate (hold and wait are durations, not clock readings).
 *
 * A request is sent at one step and runs (atomically, as the Lua script) at a later
 * one, so faults and time can pass in between; a process that is not scheduled is paused.
 *
 * The rules the model checks (Q1-Q3 in lua/sequence-8.lua):
 *   Q1 the counter is trusted only in the incarnation it was written in;
 *   Q2 a missing counter starts at 1 only in a group without a fresh start;
 *   Q3 a floor is taken WAIT after the latest fresh start and only when no fresh start
 *      came since the caller's probe; a handle uses a block only HOLD < WAIT after
 *      sending a call that confirmed the store identity the block came from.
 * Assertion: no number is used twice.
 *
 * Bounds (TMAX, CALLS, FAULTS, TRIES) can be set with -D; -DRESTARTS limits the faults
 * to restarts from a snapshot of the empty store, which lets two fresh starts and two
 * recoveries fit in a search (check.sh runs both configurations).
 *
 * Switches (spin -DSEQHOLE1 ...) put holes back; spin must find each:
 *   SEQHOLE1  a handle uses its block however long ago it was confirmed (no HOLD)
 *   SEQHOLE2  the floor is taken at once after a fresh start (no WAIT)
 *   SEQHOLE3  the floor is taken even when a fresh start came after the probe (the
 *             floor was then read while blocks of before that fresh start were in use;
 *             found with -DRESTARTS -DTMAX=7 -DTRIES=2)
 *   SEQHOLE4  a restart is not noticed: the counter is trusted after it (no Q1)
 */

#ifndef TMAX
#define TMAX  6      /* time runs 0..TMAX */
#endif
#ifndef CALLS
#define CALLS 2      /* calls per handle */
#endif
#ifndef FAULTS
#define FAULTS 2     /* snapshots, restarts and wipes */
#endif
#ifndef TRIES
#define TRIES 1      /* recoveries tried */
#endif
#define HOLD  2
#define WAIT  3
#define BLK   2
#define MAXN  20     /* numbers 1..MAXN-1 */
#define NONE  255

byte now = 0;

/* The store: the sequence's counter, whether it exists, the incarnation it was written
 * in; the group's incarnation, identity (created:run_id, new at every fresh start),
 * time of the latest fresh start, and the recreated mark. */
byte v = 0; bool present = false; byte vi = 0;
byte inc = 1; byte ident = 1; byte fs = 0; bool wp = false;
byte idents = 1;

/* The snapshot. */
bool saved = false;
byte snapv; bool spresent; byte svi; byte sinc; bool swp;

/* The database: numbers used. */
bool used[MAXN];
byte maxUsed = 0;

/* One run of the script: count numbers (0 only confirms), an optional floor with the
 * identity the caller's probe saw. Sets ok, first, last, id; left = ms until a floor is taken. */
inline script(count, hasFloor, floor, probed, ok, first, last, id, left) {
  reason = (present && vi != inc) || (!present && (wp || inc > 1));
#ifdef SEQHOLE4
  reason = (!present && (wp || inc > 1));
#endif
  left = (now < fs + WAIT -> fs + WAIT - now : 0);
#ifdef SEQHOLE2
  left = 0;
#endif
  id = ident;
  ok = true;
  if
  :: reason && (!hasFloor || left > 0) -> ok = false
  :: else
  fi;
#ifndef SEQHOLE3
  if
  :: ok && hasFloor && probed != ident -> ok = false
  :: else
  fi;
#endif
  if
  :: ok ->
     base = (present -> v : 0);
     if
     :: hasFloor && floor > base -> base = floor
     :: else
     fi;
     first = base + 1;
     last = base + count;
     if
     :: count > 0 || hasFloor || reason -> v = last; present = true; vi = inc
     :: else
     fi
  :: else
  fi
}

inline use(n) {
  assert(n < MAXN);
  assert(!used[n]);   /* never twice */
  used[n] = true;
  if
  :: n > maxUsed -> maxUsed = n
  :: else
  fi
}

proctype Handle() {
  byte first = 1, last = 0, bid = 0, conf = 0, t0, calls = 0;
  bool ok, reason; byte f, l, id, left, base;
  do
  :: d_step {
       /* next() checks and hands out in one step; the number counts as used (in the
        * database) at once: a caller that keeps a number longer than WAIT - HOLD before
        * recording it can make a floor miss it (README: Named sequences) */
       first <= last && (now < conf + HOLD
#ifdef SEQHOLE1
         || true
#endif
       ) -> use(first); first++ }
  :: calls < CALLS && (first > last || now >= conf + HOLD) ->
     t0 = now; calls++;   /* sent; the script runs at a later step */
     d_step {
       script((first <= last -> 0 : BLK), false, 0, 0, ok, f, l, id, left);
       if
       :: !ok -> first = 1; last = 0
       :: ok && first <= last && id == bid -> conf = t0
       :: ok && first <= last && id != bid -> first = 1; last = 0
       :: ok && first > last -> first = f; last = l; bid = id; conf = t0
       fi;
       /* scratch values would only multiply the states */
       ok = false; reason = false; f = 0; l = 0; id = 0; left = 0; base = 0; t0 = 0
     }
  :: now >= TMAX -> break
  od
}

proctype Recoverer() {
  bool ok, reason; byte f, l, id, left, base, probed, floor, tries = 0;
  do
  :: tries < TRIES -> tries++;
     d_step { script(0, false, 0, 0, ok, f, l, id, left); probed = id };
     if
     :: left == 0 ->
        floor = maxUsed;   /* read the database, after the probe said the store is ready */
        d_step { script(0, true, floor, probed, ok, f, l, id, left) }
     :: else
     fi;
     d_step { ok = false; reason = false; f = 0; l = 0; id = 0; left = 0; base = 0; probed = 0; floor = 0 }
  :: now >= TMAX -> break
  od
}

proctype Faults() {
  byte n = 0;
#ifdef RESTARTS
  /* Only restarts, from a snapshot of the empty store: every restart loses everything
   * since, which makes the runs that need two fresh starts short enough to reach. */
  d_step { snapv = 0; spresent = false; svi = 0; sinc = 1; swp = false; saved = true }
  do
  :: n < FAULTS -> d_step {
       v = snapv; present = spresent; vi = svi; wp = swp;
       inc = sinc + 1; idents++; ident = idents; fs = now; n++ }
  :: break
  od
#else
  do
  :: n < FAULTS -> d_step { snapv = v; spresent = present; svi = vi; sinc = inc; swp = wp; saved = true; n++ }
  :: n < FAULTS && saved -> d_step {
       /* restart from the snapshot: the first script notices the new run_id */
       v = snapv; present = spresent; vi = svi; wp = swp;
       inc = sinc + 1; idents++; ident = idents; fs = now; n++ }
  :: n < FAULTS -> d_step {
       /* wiped; recreated by a member that knew the group before */
       v = 0; present = false; vi = 0; wp = true;
       inc = 1; idents++; ident = idents; fs = now; n++ }
  :: break
  od
#endif
}

proctype Clock() {
  do
  :: now < TMAX -> now++
  :: now >= TMAX -> break
  od
}

init {
  atomic {
    run Clock();
    run Faults();
    run Handle();
    run Handle();
    run Recoverer()
  }
}
