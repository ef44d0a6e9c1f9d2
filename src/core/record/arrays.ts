/**
 * An empty array that holds objects from the start. V8 makes `[]` an array of small integers, and the
 * first object pushed changes its kind; code optimized for the arrays of an earlier window (a span
 * list emptied at every take) then meets one of another kind and is thrown away mid-recording.
 */
export function objectArray<T>(): T[] {
  const a: unknown[] = [null];
  a.pop();
  return a as T[];
}
