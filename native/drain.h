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

// Upper bounds of the records and side words a drain_into(env, ...) can hand out now.
void pending_counts(const void* env, size_t& nrec, size_t& nword);

}  // namespace mlxtrace
