/*
 * A model of Redis-side minting on a Redis Cluster (lua/station-1.lua, stationclaim-7.lua,
 * includes/minter.lua, src/ids/redis-ids.ts), checked by spin.
 *
 * Two stores: the group's master (the station's shard lease: hw, fl, fence facts, wf,
 * fs, the store incarnation) and the station's master (per shard: the incarnation whose
 * base it took, and its position: unit t, next sequence s). Two callers each keep a
 * grant (reservation, floor) and a base (the station incarnation it was read for, and
 * the group's `top`); they claim at the group and mint at the station, with requests
 * that run some steps after they were sent. Redis TIME is shared (the README's
 * assumption: the masters' clocks agree within B). A fault process snapshots, restores
 * (a restart from older data, or a failover to a lagging replica), wipes and restarts
 * either store, at most FAULTS times in all.
 *
 * Assertion:
 *   S  no (unit, sequence) pair of the shard is minted twice
 *
 * Switches put back holes; spin must find each:
 *   STATIONHOLE1  after a fresh start the station mints from the caller's floor, without
 *                 a base read from the group
 *   STATIONHOLE2  the base is the `top` of the caller's last claim (possibly read before
 *                 the station's fresh start), not of a claim made after it learnt of it
 */

#define TMAX   7      /* Redis time runs 1..TMAX */
#define B      2      /* the group's bound */
#define MAXS   2      /* sequences per unit */
#define UNITS  16     /* > TMAX + 2 * B + 2 */
#define FAULTS 2
#define OPS    10     /* claims and mints per caller: bounds the search's depth */

#define max(a, b) ((a) > (b) -> (a) : (b))
#define min(a, b) ((a) < (b) -> (a) : (b))

/* the group's master: the station's lease on its shard */
typedef GroupStore {
  bool exists;
  bool held;         /* the holder field "ids:0" names the shard */
  byte rid;          /* run_id recorded */
  byte inc;          /* store incarnation */
  byte fs;           /* latest fresh start */
  byte wf;           /* wipe floor */
  byte hw;           /* high-water mark of the shard */
  byte fl;           /* floor of the current lease */
  byte inl;          /* incarnation of the current lease */
}
/* the station's master: its hash */
typedef StationStore {
  bool exists;
  byte rid;          /* run_id recorded */
  byte inc;          /* station incarnation (a fresh one at every fresh start) */
  byte ok;           /* incarnation whose base the shard took (0: none) */
  byte t;            /* position: unit */
  byte s;            /* position: next sequence */
}

GroupStore g; GroupStore gsnap; bool gHasSnap;
StationStore st; StationStore ssnap; bool sHasSnap;
byte now = 1;
byte gServer = 1;     /* run_id of the group's running server */
byte sServer = 1;     /* run_id of the station's running server */
byte incs = 0;        /* counter of station incarnations */
bool minted[UNITS * MAXS];

/* includes/group.lua notice_restart */
inline notice_restart() {
  if
  :: g.rid != gServer -> g.rid = gServer; g.inc++; g.fs = now; g.wf = max(g.wf, now + B)
  :: else -> skip
  fi
}

/* stationclaim-7.lua through minter_lease: renews (or takes) the lease; reply in R, F, TOP */
inline claim() {
  if
  :: !g.exists ->
     g.exists = true; g.held = false; g.rid = gServer; g.inc = g.inc + 1; g.fs = now; g.wf = now + B;
     g.hw = 0; g.fl = 0; g.inl = 0
  :: else -> notice_restart()
  fi;
  top = max(g.hw, max(g.wf, g.fs + B));               /* floor_of before this renewal */
  if
  :: !g.held || g.inl != g.inc -> g.held = true; g.fl = top; g.inl = g.inc   /* a new lease */
  :: else -> skip
  fi;
  r = now + B;                                         /* min(now + B, now + B) */
  g.hw = max(g.hw, r);
  R = r; F = g.fl; TOP = top
}

proctype Caller() {
  byte R = 0, F = 0, TOP = 0;      /* the grant, and the top of the last claim */
  byte baseInc = 0, baseTop = 0;   /* the base: station incarnation it was read for, top */
  byte learnt = 0;                 /* a station incarnation a -4 reply named, waiting for a claim */
  bool claimSent = false, mintSent = false;
  byte sR, sF, sBaseInc, sBaseTop; /* a mint in flight: its arguments */
  byte r, top, u, first, nt, ns;
  byte ops = 0;
  do
  :: (now >= TMAX || ops >= OPS) && !claimSent && !mintSent -> break
  /* send a claim (renewal): when it would reserve more, or a base is needed */
  :: ops < OPS && now < TMAX && !claimSent && !mintSent && (R < now + B || learnt != 0) -> claimSent = true; ops++
  /* the claim runs */
  :: claimSent -> atomic {
       claimSent = false;
       claim();
       if
       :: learnt != 0 -> baseInc = learnt; baseTop = TOP; learnt = 0   /* claimNow: sent after the -4 */
       :: else -> skip
       fi;
       r = 0; top = 0
     }
  /* send a mint with the grant and base it has now */
  :: ops < OPS && now < TMAX && !claimSent && !mintSent && R > 0 -> mintSent = true; ops++; sR = R; sF = F; sBaseInc = baseInc; sBaseTop = baseTop
  /* the mint runs at the station (station-1.lua), one ID */
  :: mintSent -> atomic {
       mintSent = false;
       if
       :: !st.exists || st.rid != sServer ->
          /* a fresh start: a new incarnation, every position dropped */
          incs++; st.exists = true; st.rid = sServer; st.inc = incs; st.ok = 0; st.t = 0; st.s = 0;
          learnt = st.inc
       :: else ->
          if
          :: st.ok != st.inc ->
#ifdef STATIONHOLE1
             st.ok = st.inc; st.t = 0; st.s = MAXS
#else
             if
             :: sBaseInc != st.inc -> learnt = st.inc
             :: else -> st.ok = st.inc; st.t = sBaseTop; st.s = MAXS   /* every unit up to the base's is taken */
             fi
#endif
          :: else -> skip
          fi;
          if
          :: st.ok == st.inc ->
             /* includes/mint.lua mint_runs, one ID; the position is kept only if it minted */
             first = sF + 1; nt = st.t; ns = st.s;
             if
             :: nt < first || nt < now -> nt = max(first, max(now, nt + 1)); ns = 0
             :: else -> skip
             fi;
             if
             :: ns >= MAXS -> nt++; ns = 0
             :: else -> skip
             fi;
             if
             :: nt <= sR ->
                u = nt * MAXS + ns;
                assert(!minted[u]);                        /* S */
                minted[u] = true;
                st.t = nt; st.s = ns + 1
             :: else -> skip                               /* -2: beyond the reservation */
             fi
          :: else -> skip
          fi
       fi;
       u = 0; first = 0; nt = 0; ns = 0;
       /* on -4 the caller claims at once (claimNow); STATIONHOLE2 uses the last claim's top */
#ifdef STATIONHOLE2
       if :: learnt != 0 -> baseInc = learnt; baseTop = TOP; learnt = 0 :: else -> skip fi
#endif
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
  do
  :: now >= TMAX || faults >= FAULTS -> break
  :: !gHasSnap -> atomic { gsnap.exists = g.exists; gsnap.held = g.held; gsnap.rid = g.rid; gsnap.inc = g.inc;
       gsnap.fs = g.fs; gsnap.wf = g.wf; gsnap.hw = g.hw; gsnap.fl = g.fl; gsnap.inl = g.inl; gHasSnap = true }
  :: gHasSnap && faults < FAULTS -> atomic { faults++; gServer++;                 /* the group's master restarts from the snapshot */
       g.exists = gsnap.exists; g.held = gsnap.held; g.rid = gsnap.rid; g.inc = gsnap.inc;
       g.fs = gsnap.fs; g.wf = gsnap.wf; g.hw = gsnap.hw; g.fl = gsnap.fl; g.inl = gsnap.inl }
  :: faults < FAULTS -> atomic { faults++; gServer++; g.exists = false; g.held = false; g.hw = 0; g.fl = 0; g.inl = 0; g.wf = 0; g.fs = 0 }   /* wipe */
  :: !sHasSnap -> atomic { ssnap.exists = st.exists; ssnap.rid = st.rid; ssnap.inc = st.inc; ssnap.ok = st.ok;
       ssnap.t = st.t; ssnap.s = st.s; sHasSnap = true }
  :: sHasSnap && faults < FAULTS -> atomic { faults++; sServer++;                 /* the station's master restarts from the snapshot */
       st.exists = ssnap.exists; st.rid = ssnap.rid; st.inc = ssnap.inc; st.ok = ssnap.ok; st.t = ssnap.t; st.s = ssnap.s }
  :: faults < FAULTS -> atomic { faults++; if :: sServer++ :: skip fi; st.exists = false; st.ok = 0; st.t = 0; st.s = 0 }   /* station wiped */
  :: faults < FAULTS -> atomic { faults++; sServer++ }                             /* the station restarts keeping everything */
  od
}

init {
  atomic { run Clock(); run Faults(); run Caller(); run Caller() }
}
