/**
 * The live server's thread. It takes the feed's chunks, keeps the last seconds, and serves the page,
 * so neither a page nor packing a window ever runs on the app's thread, and the page moves while
 * the app's thread is in a synchronous loop. Replies go through the shared counters and a
 * MessagePort the app's thread reads synchronously (it waits for 'listening' before it returns).
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { LiveServer } from './server';
import { LiveStore } from './store';
import { lowerThreadPriority } from './thread-priority';
import { ACK_CHUNKS, ACK_ENDED, ACK_READY, CHUNK_COLUMNS, JS_FIELDS, type ChunkColumns, type FromWorker, type ToWorker } from './protocol';

let server: LiveServer | null = null;
let store: LiveStore | null = null;
let acks: Int32Array | null = null;
let reply: MessagePort | null = null;
let returns: MessagePort | null = null;
/** This thread's nice value once lowered (null: unchanged), for /stats. */
let threadNice: number | null = null;

const answer = (m: FromWorker, slot: number, value: number) => {
  reply?.postMessage(m);
  if (acks) {
    Atomics.store(acks, slot, value);
    Atomics.notify(acks, slot);
  }
};

parentPort?.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start': {
      threadNice = lowerThreadPriority();
      acks = new Int32Array(m.acks);
      reply = m.reply;
      store = new LiveStore(m.session, m.options.windowSeconds * 1e9, m.options.maxSpans);
      server = new LiveServer(store, m.options, m.token, threadNice);
      server.listen().then(
        (url) => answer({ type: 'listening', url }, ACK_READY, 1),
        (e: Error) => answer({ type: 'error', message: e.message }, ACK_READY, -1),
      );
      return;
    }
    case 'returns':
      returns = m.port;
      return;
    case 'chunk': {
      // The store keeps copies of the used rows; the feed's columns go back to it for its next chunks.
      const c = m.chunk;
      const back = {} as ChunkColumns;
      for (const k of CHUNK_COLUMNS) (back as Record<string, unknown>)[k] = c[k];
      const used = (k: (typeof CHUNK_COLUMNS)[number]) => (k === 'memT' || k === 'memLive' ? c.memN : k === 'js' ? c.jsN * JS_FIELDS : c.n);
      for (const k of CHUNK_COLUMNS) (c as unknown as Record<string, unknown>)[k] = c[k].slice(0, used(k));
      store?.add(c);
      if (acks) Atomics.add(acks, ACK_CHUNKS, 1);
      returns?.postMessage(back, CHUNK_COLUMNS.map((k) => back[k].buffer as ArrayBuffer));
      return;
    }
    case 'end':
      // The server cuts a client whose queue stops moving; a reading one gets its last batch and the end.
      (server?.end() ?? Promise.resolve()).then(() => answer({ type: 'ended' }, ACK_ENDED, 1));
      return;
    case 'close':
      returns?.close();
      (server?.close() ?? Promise.resolve()).then(() => {
        parentPort?.postMessage({ type: 'closed' } satisfies FromWorker);
        parentPort?.close();
      });
      return;
  }
});
