/**
 * The definitions blocks of the layout (layout.ts, block type 2): strings, tensors and lists of
 * tensors, each numbered from 0 in order of first appearance across the file. DefinitionTable numbers
 * them while writing, DefinitionList collects them while reading.
 */
import type { TensorInfo } from '../../model/trace';
import { isCount, isObj, show, tensorProblem } from '../../model/checks';
import type { SaveChecks } from '../../model/span-checks';
import { tensorJson } from '../rows';

/** The list number that says a list failed the save's checks (bit 31: tested with int32 bit operations). */
export const BAD_LIST = 2 ** 31;

/** The writer's side: numbers for what the rows use, and the JSON of those the next block needs. */
export class DefinitionTable {
  readonly strings = new Map<string, number>();
  private readonly tensors = new Map<TensorInfo, number>();
  /** Tensors by content, for traces whose equal tensors are separate objects (built by hand, merged). */
  private readonly tensorsByKey = new Map<string, number>();
  /** Lists by identity (the recorder shares one per shape signature), then by content. */
  private readonly lists = new Map<readonly TensorInfo[], number>();
  private readonly listsByKey = new Map<string, number>();
  /** Definitions the next block needs (JSON texts). */
  private newStrings: string[] = [];
  private newTensors: string[] = [];
  private newLists: string[] = [];

  /** How many lists are numbered. */
  get listCount(): number {
    return this.listsByKey.size;
  }

  /** The number of string s (defined in the next definitions block when new). */
  str(s: string): number {
    let n = this.strings.get(s);
    if (n === undefined) {
      n = this.strings.size;
      this.strings.set(s, n);
      this.newStrings.push(JSON.stringify(s));
    }
    return n;
  }

  /** The number of a list of tensors, or BAD_LIST when the save's checks refuse it. */
  list(ts: readonly TensorInfo[], checks: SaveChecks | null): number {
    let n = this.lists.get(ts);
    if (n !== undefined) return n;
    // Refused by the span's check, which names what is wrong.
    if (checks !== null && !checks.list(ts)) return BAD_LIST;
    // Not an array, when not validating: written as an empty list.
    const items: readonly TensorInfo[] = Array.isArray(ts) ? ts : [];
    let key = '';
    for (let i = 0; i < items.length; i++) {
      const t = items[i];
      let k = this.tensors.get(t);
      if (k === undefined) {
        const json = tensorJson(t);
        k = this.tensorsByKey.get(json);
        if (k === undefined) {
          k = this.tensorsByKey.size;
          this.tensorsByKey.set(json, k);
          this.newTensors.push(json);
        }
        if (t !== null && typeof t === 'object') this.tensors.set(t, k);
      }
      key += (i > 0 ? ',' : '') + k;
    }
    n = this.listsByKey.get(key);
    if (n === undefined) {
      n = this.listsByKey.size;
      this.listsByKey.set(key, n);
      this.newLists.push('[' + key + ']');
    }
    // By identity: nothing can change a list during one save.
    if (typeof ts === 'object' && ts !== null) this.lists.set(ts, n);
    return n;
  }

  /** The definitions block the next rows need (and forgets them), or null when they need none. */
  pending(): { count: number; json: string } | null {
    const count = this.newStrings.length + this.newTensors.length + this.newLists.length;
    if (count === 0) return null;
    const json = `{"strings":[${this.newStrings.join(',')}],"tensors":[${this.newTensors.join(',')}],"lists":[${this.newLists.join(',')}]}`;
    this.newStrings = [];
    this.newTensors = [];
    this.newLists = [];
    return { count, json };
  }
}

/** The reader's side: everything defined so far, by number. */
export class DefinitionList {
  readonly strings: string[] = [];
  private readonly tensors: TensorInfo[] = [];
  /** Tensors that passed tensorProblem; lists made only of those are in `listsOk`. */
  private readonly tensorOk: boolean[] = [];
  readonly lists: TensorInfo[][] = [];
  readonly listsOk = new WeakSet<object>();

  /** Adds the `count` definitions of block `d` (parsed JSON); `bad` throws for a block that is not one. */
  read(d: unknown, count: number, bad: (detail: string) => never): void {
    if (!isObj(d) || !Array.isArray(d.strings) || !Array.isArray(d.tensors) || !Array.isArray(d.lists)) {
      return bad('not {"strings":[...],"tensors":[...],"lists":[...]}');
    }
    if (d.strings.length + d.tensors.length + d.lists.length !== count) bad(`holds ${d.strings.length + d.tensors.length + d.lists.length} definitions, its head says ${count}`);
    for (const s of d.strings) {
      if (typeof s !== 'string') bad(`string ${this.strings.length} is ${show(s)}, expected a string`);
      this.strings.push(s);
    }
    // Tensors are frozen and shared; a wrong one is reported by the check of the first span using it.
    for (const t of d.tensors) {
      this.tensorOk.push(tensorProblem(t, 'tensor') === null);
      this.tensors.push((isObj(t) ? Object.freeze(t) : t) as TensorInfo);
    }
    for (const l of d.lists) {
      const no = this.lists.length;
      if (!Array.isArray(l)) return bad(`list ${no} is ${show(l)}, expected an array of tensor numbers`);
      const list: TensorInfo[] = new Array(l.length);
      let ok = true;
      for (let i = 0; i < l.length; i++) {
        const t = l[i];
        if (!(isCount(t) && t < this.tensors.length)) bad(`list ${no} names tensor ${show(t)}, and ${this.tensors.length} are defined`);
        list[i] = this.tensors[t];
        ok &&= this.tensorOk[t];
      }
      if (ok) this.listsOk.add(list);
      this.lists.push(list);
    }
  }
}
