// Moving finished records out of every thread's ring into a user's buffers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "records.h"

namespace mlxtrace {

struct DrainOut {
  size_t nrec = 0, nword = 0;
  uint64_t dropped = 0;
  bool more = false;  // a buffer filled up: the rest waits for the next call
  uint32_t generation = 0;  // of the signature numbers in this batch (signatures.h)
};

// Copies the records that belong to the user of environment `env` (me) into `recs` / `words` (room for rcap records and wcap
// words), with times in CLOCK_MONOTONIC ns and, for the tagging user, each primitive's layer and
// mx.fast tags resolved, and each primitive's signature numbered (its ident). A record belongs to the user whose thread built the primitive's output
// (owners.h; memory records and unmarked nodes: default_user()); records of other attached users
// wait in their queues, and those of no attached user, or that began before their user's
// recording last went on, are left out. Runs on me's JS thread; takes session_mutex().
DrainOut drain_into(const void* env, Rec* recs, size_t rcap, uint32_t* words, size_t wcap);

// The SDK's columns (src/core/record/event-log.ts PrimitiveLog, MemoryLog), written from row n on.
// A row past cap stops the drain (more: the SDK grows the columns and calls again); a row past limit
// is dropped and counted (the SDK's bound on what it keeps). An eval's completion marker (class
// sync_cls) is no row: its times go to syncs, with the row that follows it.
struct Columns {
  struct {
    double *t0, *t1, *layer;
    int32_t* thread;
    uint16_t* cls;
    uint8_t* flags;  // kCol* bits (records.h)
    uint32_t* sig;   // signature numbers (signatures.h)
    size_t n, cap, limit;
    uint64_t dropped;
  } prim;
  struct {
    double *t, *delta, *live;
    int16_t* cls;  // -1: no primitive was running
    size_t n, cap, limit;
    uint64_t dropped;
  } mem;
  double* syncs;  // [row, t0, t1] each
  size_t nsync, sync_cap;
  uint32_t sync_cls;  // kNoClass + 1 or more: none
};

// drain_into's work, written into the SDK's columns instead: times in ns, layers resolved for the
// tagging user, signatures numbered. Also stops (more) when the signature table is full: the next
// call starts a new generation. Runs on me's JS thread; takes session_mutex().
DrainOut drain_columns(const void* env, Columns& c);

// Upper bounds of the records and side words a drain_into(env, ...) can hand out now.
void pending_counts(const void* env, size_t& nrec, size_t& nword);

}  // namespace mlxtrace
