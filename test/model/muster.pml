/*
 * A model of muster's lease protocol (lua/*.lua and src/membership/, src/shards/), checked by spin.
 *
 * Two processes of one group share one shard. Each runs lives that join (claim), beat
 * (renew, re-base, reap), mint, leave and crash; a process that is not scheduled is paused.
 * Redis TIME advances by itself; each process's wall clock is Redis TIME plus an offset
 * that may be stepped. A fault process takes a snapshot, restarts the store from it (a
 * restart from RDB/AOF that lost the latest writes, or a failover to a lagging replica:
 * the same from the clients' side, a new run_id), wipes it (FLUSHALL, or a restart with
 * no persistence), restarts it keeping everything, and resets the group by force while
 * a holder mints (lua/reset-8.lua: the shard's records and the holder's membership go,
 * the group record keeps identity and a floor).
 *
 * Time is counted in units; one unit of Redis time is one ID time unit. A request is
 * sent at one step and runs (atomically, as a Lua script) at a later one, so faults and
 * time can pass in between.
 *
 * Assertions:
 *   G1  two lives that may both mint at a moment have disjoint ranges (floor, reservation]
 *   G2  no time unit of the shard is minted by two lives (each owns its units' sequences)
 *   G3  each process mints strictly increasing units
 *   G4  a `node down` report is delivered at most once (unless its first receiver died
 *       before acknowledging it), and at the end none is lost except by a wipe
 *
 * Switches (spin -DHOLE1 ...) put back holes of earlier versions; spin must find each:
 *   HOLE1  a restart from older data is not noticed (no run_id check)
 *   HOLE2  a holder keeps the lead its floor gave it (reservation up to fl + elapsed + B)
 *   HOLE3  reservations are not capped by Redis TIME + B, and a clock too far ahead is
 *          not refused
 *   HOLE4  members forget which reports were handled (a restart brings them back)
 *   RESETHOLE  a reset keeps no floor above the shard's reservations (only the fresh
 *          start's floor)
 */

#define TMAX   8      /* Redis time runs BIAS..TMAX */
#define TTL    2      /* member timeout */
#define SKEW   1      /* clockSkew allowance */
#define B      3      /* the group's bound: SKEW + TTL */
#define Q      3      /* quarantine: SKEW + TTL */
#define NP     2      /* processes */
#define LPP    2      /* lives per process */
#define NL     4      /* NP * LPP */
#define NONE   255
#define UNITS  20     /* > TMAX + 2 * B + SKEW + 2 */
#define BIAS   2      /* clock offsets are stored as offset + BIAS, in 0..4 */

/* Two configurations keep the state space small: -DREPORTS checks G4 (no minting),
   otherwise G1 to G3 are checked (no report bookkeeping). */
#ifdef REPORTS
#define LEASES false
#else
#define LEASES true
#endif

#define max(a, b) ((a) > (b) -> (a) : (b))
#define min(a, b) ((a) < (b) -> (a) : (b))

typedef Store {
  bool exists;
  byte created;      /* identity of this group record */
  byte rid;          /* run_id recorded */
  byte inc;          /* store incarnation */
  byte fs;           /* time of the latest fresh start */
  byte wf;           /* wipe floor */
  byte hw;           /* high-water mark of the shard */
  byte fl;           /* floor of the current lease */
  byte inl;          /* incarnation of the current lease */
  byte at;           /* claim time (only HOLE2 uses it) */
  byte owner;        /* life holding the shard (a member), or NONE */
  byte expiry;       /* its expiry */
  byte freeAt;       /* quarantine end */
  byte rep[NL];      /* node down report of a life: NONE, or the life that owns it */
}

Store st;
Store snap;
bool hasSnap;
byte now;
byte serverRid = 1;    /* run_id of the running server */
byte records = 1;      /* counter for group record identities */
bool minted[UNITS];    /* unit minted by some life */

/* what each process can do with its lease */
bool has[NP];
byte F[NP];
byte R[NP];
byte dl[NP];
bool refused[NP];

/* G4 bookkeeping */
byte delivered[NL];
bool crashedUnacked[NL];   /* its first receiver died before acknowledging */
bool known[NP * NL];       /* process p knows report of life x was handled: known[p * NL + x] */
bool crashed[NL];
bool wipedAfter[NL];       /* a wipe came after this life's death: its report may be lost */

/* --- the scripts' shared parts (lua/includes/group.lua, shards.lua, membership.lua) --- */

inline notice_restart() {
  skip;
#ifndef HOLE1
  if
  :: st.rid != serverRid ->
     st.rid = serverRid; st.inc++; st.fs = now; st.wf = max(st.wf, now + B)
  :: else -> skip
  fi
#endif
}

/* reap the owner if expired; its report (and those it owned) go to `me` */
inline reap() {
  if
  :: st.owner != NONE && st.expiry <= now && !(st.expiry <= st.fs && now < st.fs + TTL) ->
     i = 0;
     do
     :: i < NL -> if :: st.rep[i] == st.owner -> st.rep[i] = life :: else -> skip fi; i++
     :: else -> break
     od;
     st.rep[st.owner] = life;
     st.freeAt = now + Q;
     st.owner = NONE
  :: else -> skip
  fi
}

/* a new lease (claim, or re-base after a fresh start): floor above every earlier
   reservation; r holds the proposed reservation */
inline grant() {
  st.fl = max(st.hw, max(st.wf, st.fs + B));
  st.inl = st.inc;
  st.at = now;
  r = max(r, st.fl + TTL);
}

inline cap() {
#ifdef HOLE3
  skip
#else
#ifdef HOLE2
  r = min(r, max(now, st.fl + (now - st.at)) + B)
#else
  r = min(r, now + B)
#endif
#endif
}

/* the holder's side of a counted reply: deadline from the send time */
inline take_reply() {
  R[p] = r;
  F[p] = st.fl;
  dl[p] = sent + TTL;
  has[p] = true;
#ifdef HOLE3
  refused[p] = false
#else
  refused[p] = (clk > now + SKEW + BIAS)
#endif
}

/* deliver the reports this life owns */
inline deliver() {
  skip;
#ifdef REPORTS
  i = 0;
  do
  :: i < NL ->
     if
     :: st.rep[i] == life && pending[i] == 0 ->
        pending[i] = 1;
#ifndef HOLE4
        if
        :: known[p * NL + i] -> skip
        :: else ->
#endif
           assert(delivered[i] == 0 || crashedUnacked[i]);    /* G4: at most once */
           delivered[i]++
#ifndef HOLE4
        fi
#endif
     :: else -> skip
     fi;
     i++
  :: else -> break
  od
#endif
}

proctype Proc(byte p) {
  byte life = p * LPP;
  byte k = 0;            /* lives used */
  bool member = false;
  byte created;
  byte L = 0;            /* last unit minted by this process (0: none) */
  byte off;              /* wall clock offset + BIAS */
  byte sent, clk;        /* a request in flight: send time, clock at send */
  bool inflight = false;
  byte r, i, t;
  byte pending[NL];      /* reports delivered, acknowledged at the next beat */
  bool crashedOnce = false;

  if
  :: LEASES -> if :: off = BIAS - 1 :: off = BIAS + 1 :: off = BIAS + 2 fi
  :: else -> off = BIAS
  fi;

  do
  :: now >= TMAX -> break

  /* send a join or a beat */
  :: !inflight && now < TMAX -> sent = now; clk = now + off; inflight = true

  /* join: the script (lua/join-7.lua) */
  :: inflight && !member -> atomic {
       inflight = false;
       if
       :: !st.exists ->
          st.exists = true; records++; st.created = records; st.rid = serverRid; st.inc = st.inc + 1;
          st.fs = now; st.wf = now + B; st.owner = NONE; st.freeAt = 0
       :: else -> notice_restart()
       fi;
       reap();
       if
       :: st.owner == NONE && st.freeAt <= now ->
          r = max(clk - BIAS, L) + TTL;
          grant();
          cap();
          st.hw = max(st.hw, r);
          st.owner = life; st.expiry = now + TTL;
          created = st.created; member = true;
          take_reply();
          deliver()
       :: else -> skip
       fi;
       i = 0; r = 0; sent = 0; clk = 0
     }

  /* beat: the script (lua/beat-7.lua) */
  :: inflight && member -> atomic {
       inflight = false;
       if
       :: !st.exists || st.created != created ->
          member = false; has[p] = false;                /* wiped: lost, rejoins as a new life */
          if :: k + 1 < LPP -> k++; life++ :: else -> skip fi
       :: else ->
          notice_restart();
          if
          :: st.owner != life || (st.expiry <= now && !(st.expiry <= st.fs && now < st.fs + TTL)) ->
             member = false; has[p] = false;             /* gone or expired: lost */
             if :: k + 1 < LPP -> k++; life++ :: else -> skip fi
          :: else ->
             st.expiry = now + TTL;
             r = max(clk - BIAS, max(L, F[p] + 1)) + TTL;
             if
             :: st.inl != st.inc -> grant()            /* re-base after a fresh start */
             :: else -> skip
             fi;
             cap();
             st.hw = max(st.hw, r);
             take_reply();
             /* acknowledgements of delivered reports: dropped, and every member told */
#ifdef REPORTS
             i = 0;
             do
             :: i < NL ->
                if
                :: pending[i] == 1 && st.rep[i] == life ->
                   st.rep[i] = NONE; pending[i] = 2;
                   known[0 * NL + i] = true; known[1 * NL + i] = true
                :: else -> skip
                fi;
                i++
             :: else -> break
             od;
#endif
             reap();
             deliver()
          fi
       fi;
       i = 0; r = 0; sent = 0; clk = 0
     }

  /* mint (at full rate: every unit reserved; a slower holder is one not scheduled)
     only while the lease
     is surely valid, above the floor, up to the reservation */
  :: LEASES && has[p] && !refused[p] && now < dl[p] && max(L, F[p]) < R[p] -> atomic {
       /* G1: whoever else may mint now has a disjoint range */
       i = 1 - p;
       assert(!(has[i] && !refused[i] && now < dl[i]) || F[i] >= R[p] || F[p] >= R[i]);
       r = R[p];
       t = max(L, F[p]) + 1;
       do
       :: t <= r && t < UNITS ->
          assert(!minted[t]);                            /* G2 */
          assert(t > L);                                 /* G3 */
          minted[t] = true;
          L = t;
          t++
       :: else -> break
       od;
       i = 0; r = 0; t = 0
     }

  /* a graceful leave: the shard goes to quarantine; the process may join again later */
  :: member && !inflight -> atomic {
       if
       :: st.exists && st.created == created && st.owner == life -> st.owner = NONE; st.freeAt = now + Q
       :: else -> skip
       fi;
       member = false; has[p] = false;
       if :: k + 1 < LPP -> k++; life++ :: else -> skip fi
     }

  /* the process crashes: its generator's memory is gone; a new process starts later */
  :: !crashedOnce && k + 1 < LPP -> atomic {
       crashedOnce = true;
       if :: member && st.owner == life -> crashed[life] = true :: else -> skip fi;
       i = 0;
       do
       :: i < NL ->
          if :: pending[i] == 1 -> crashedUnacked[i] = true :: else -> skip fi;
          pending[i] = 0; known[p * NL + i] = false; i++
       :: else -> break
       od;
       has[p] = false; member = false; inflight = false; L = 0; k++; life++; i = 0; sent = 0; clk = 0
     }

  od
}

proctype Clock() {
  do
  :: now < TMAX -> now++
  :: else -> break
  od
}

proctype Faults() {
  byte faults = 0;
  byte i;
  do
  :: now >= TMAX || faults >= 2 -> break
  :: !hasSnap && faults < 2 -> atomic { snap.exists = st.exists; snap.created = st.created; snap.rid = st.rid; snap.inc = st.inc;
       snap.fs = st.fs; snap.wf = st.wf; snap.hw = st.hw; snap.fl = st.fl; snap.inl = st.inl; snap.at = st.at;
       snap.owner = st.owner; snap.expiry = st.expiry; snap.freeAt = st.freeAt;
       i = 0; do :: i < NL -> snap.rep[i] = st.rep[i]; i++ :: else -> break od;
       hasSnap = true; i = 0 }
  :: hasSnap && faults < 2 -> atomic {   /* restart from the snapshot, or failover to a lagging replica */
       faults++; serverRid++;
       st.exists = snap.exists; st.created = snap.created; st.rid = snap.rid; st.inc = snap.inc;
       st.fs = snap.fs; st.wf = snap.wf; st.hw = snap.hw; st.fl = snap.fl; st.inl = snap.inl; st.at = snap.at;
       st.owner = snap.owner; st.expiry = snap.expiry; st.freeAt = snap.freeAt;
       /* a life that died after the snapshot and is not in it is forgotten, as by a wipe */
       i = 0; do :: i < NL -> st.rep[i] = snap.rep[i];
         if :: crashed[i] && snap.owner != i && snap.rep[i] == NONE -> wipedAfter[i] = true :: else -> skip fi;
         i++ :: else -> break od; i = 0 }
  :: faults < 2 -> atomic {              /* wipe: FLUSHALL, or a restart with nothing kept */
       faults++; if :: serverRid++ :: skip fi;
       st.exists = false; st.hw = 0; st.fl = 0; st.inl = 0; st.wf = 0; st.fs = 0; st.owner = NONE; st.freeAt = 0;
       i = 0; do :: i < NL -> if :: crashed[i] -> wipedAfter[i] = true :: else -> skip fi; st.rep[i] = NONE; i++ :: else -> break od; i = 0 }
  :: faults < 2 -> atomic { faults++; serverRid++ }   /* a restart that kept everything */
  :: faults < 2 && st.exists -> atomic {  /* muster group reset --force (lua/reset-8.lua) */
       faults++;
       notice_restart();
#ifdef RESETHOLE
       st.wf = max(st.wf, st.fs + B);
#else
       st.wf = max(st.wf, max(st.fs + B, st.hw));      /* R1 */
#endif
       st.inc++;                                        /* R2: identity kept, a new incarnation */
       st.hw = 0; st.fl = 0; st.inl = 0; st.at = 0; st.owner = NONE; st.freeAt = 0;
       /* reports not handled yet are removed with the rest (README: reset) */
       i = 0; do :: i < NL -> if :: crashed[i] -> wipedAfter[i] = true :: else -> skip fi; st.rep[i] = NONE; i++ :: else -> break od; i = 0 }
  od
}

init {
  byte i;
  atomic {
    st.owner = NONE; st.inc = 0; now = BIAS;
    i = 0; do :: i < NL -> st.rep[i] = NONE; snap.rep[i] = NONE; i++ :: else -> break od;
    run Clock(); run Faults(); run Proc(0); run Proc(1)
  }
  (_nr_pr == 1);
  /* G4, never lost: a dead life's report was delivered, is pending, or its life is
     still to be reaped, unless a wipe took it */
#ifdef REPORTS
  i = 0;
  do
  :: i < NL ->
     assert(!crashed[i] || wipedAfter[i] || delivered[i] > 0 || st.rep[i] != NONE || st.owner == i);
     i++
  :: else -> break
  od
#endif
}
