// Interning of primitive signatures: the dtypes and shapes of a primitive's arrays, outputs then
// inputs. A model repeats a few hundred signatures across millions of primitives; the drain gives
// each record the number of its signature, so the SDK makes a signature's JS objects once, when its
// number is new, instead of hashing every record's words in JS.
#pragma once
#include <cstdint>

namespace mlxtrace {

// A record whose signature has no number (the table is full until the next drain starts).
constexpr uint32_t kNoSignature = 0xFFFFFFFFu;

// Numbers given since the last generation change are dense from 0. A drain that finds the table
// over its bound empties it before it reads a record, and the generation goes up: every number of
// the earlier generation is void, so a reader keeping numbers drops them when it sees a new one.
uint32_t signature_generation();

// Empties the table if it is over its bound. Call at the start of a drain (never between records of
// one drain: all numbers in a drained batch are of one generation). Needs session_mutex().
void signatures_drain_start();

// Whether the table refuses new signatures until the next drain starts.
bool signatures_full();

// The key of signature `num` of this generation (counts nin | nout << 8, then per array, outputs
// first, its header word and dims, as records.h lays out side words without the ArrayDesc words),
// copied into out if it fits; returns its length, 0 for a number it does not know. Needs
// session_mutex().
uint32_t signature_key(uint32_t num, uint32_t* out, uint32_t cap);

// The number of the signature in a primitive's side words (nin inputs, nout outputs, laid out as
// records.h says), given one if new; kNoSignature when the table has no room left. `cls` is the
// primitive's class: an op class mostly repeats its last signature, which is checked first.
// Needs session_mutex().
uint32_t intern_signature(const uint32_t* words, uint32_t nwords, uint8_t nin, uint8_t nout, uint16_t cls);

}  // namespace mlxtrace
