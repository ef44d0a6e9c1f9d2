// Moving finished records out of every thread's ring into a caller's buffers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "records.h"

namespace mlxtrace {

struct DrainOut {
  size_t nrec = 0, nword = 0;
  uint64_t dropped = 0;
  bool more = false;  // a buffer filled up: the rest waits in the rings for the next call
};

// Copies finished records into `recs` / `words` (room for rcap records and wcap words), with times
// in CLOCK_MONOTONIC ns and each primitive's layer and mx.fast tags resolved. Runs on the JS thread.
DrainOut drain_into(Rec* recs, size_t rcap, uint32_t* words, size_t wcap);

// Records and side words waiting in all rings.
void pending_counts(size_t& nrec, size_t& nword);

}  // namespace mlxtrace
