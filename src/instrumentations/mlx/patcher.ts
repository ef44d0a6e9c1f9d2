/**
 * Every property this instrumentation replaces goes through here, so `restoreAll()` can put back the
 * exact original values (the same function objects, the same property descriptors), in reverse order.
 */
export class Patcher {
  private saved: Array<{ obj: object; key: PropertyKey; desc: PropertyDescriptor | undefined }> = [];
  private wrapped = new WeakSet<Function>();

  /** Replaces obj[key] with make(original); skips keys that are already ours. */
  wrap<T extends Function>(obj: object, key: PropertyKey, make: (original: T) => T): boolean {
    const desc = Object.getOwnPropertyDescriptor(obj, key);
    if (!desc || typeof desc.value !== 'function' || this.wrapped.has(desc.value)) return false;
    if (!desc.writable && !desc.configurable) return false;
    const replacement = make(desc.value as T);
    this.wrapped.add(replacement);
    this.saved.push({ obj, key, desc });
    Object.defineProperty(obj, key, { ...desc, value: replacement });
    return true;
  }

  /** Sets obj[key] to value (a data property), remembering what was there. */
  set(obj: object, key: PropertyKey, value: unknown): void {
    const desc = Object.getOwnPropertyDescriptor(obj, key);
    this.saved.push({ obj, key, desc });
    Object.defineProperty(obj, key, { value, writable: true, configurable: true, enumerable: desc?.enumerable ?? true });
  }

  isWrapped(fn: unknown): boolean {
    return typeof fn === 'function' && this.wrapped.has(fn);
  }

  restoreAll(): void {
    for (let i = this.saved.length - 1; i >= 0; i--) {
      const { obj, key, desc } = this.saved[i];
      if (desc) Object.defineProperty(obj, key, desc);
      else delete (obj as Record<PropertyKey, unknown>)[key];
    }
    this.saved = [];
  }

  get count(): number {
    return this.saved.length;
  }
}
