// A Node host for the SharedArena component (transpiled by jco in instantiation mode), with its
// `storage` in JavaScript: an in-memory store that honours the storage contract — one atomic append
// per operation (its events, the indexed record when it changes, a snapshot now and then), refused
// with `conflict` when the arena's last sequence number moved.

import { readFile } from 'node:fs/promises';
import { cli, clocks, io, random } from '@bytecodealliance/preview2-shim';
import { instantiate } from './generated/arena.js';

const wasi = {
  'wasi:cli/environment': cli.environment,
  'wasi:cli/exit': cli.exit,
  'wasi:cli/stderr': cli.stderr,
  'wasi:cli/stdin': cli.stdin,
  'wasi:cli/stdout': cli.stdout,
  'wasi:cli/terminal-input': cli.terminalInput,
  'wasi:cli/terminal-output': cli.terminalOutput,
  'wasi:cli/terminal-stderr': cli.terminalStderr,
  'wasi:cli/terminal-stdin': cli.terminalStdin,
  'wasi:cli/terminal-stdout': cli.terminalStdout,
  'wasi:clocks/monotonic-clock': clocks.monotonicClock,
  'wasi:clocks/wall-clock': clocks.wallClock,
  'wasi:io/error': io.error,
  'wasi:io/poll': io.poll,
  'wasi:io/streams': io.streams,
  'wasi:random/random': random.random,
};

/** The storage interface over Maps. `beforeAppend`, if set, runs once before the next append. */
export class MemoryStorage {
  constructor() {
    this.arenas = new Map(); // id -> { status, participants, tags }
    this.events = new Map(); // id -> [event]
    this.snapshots = new Map(); // id -> [{ seq, state }], ascending
    this.beforeAppend = null;
    this.conflicts = 0;
  }

  imports() {
    return {
      head: (arena) => {
        const log = this.events.get(arena);
        const last = log?.[log.length - 1];
        return last && { seq: last.seq, hash: last.hash };
      },
      snapshot: (arena, atMost) =>
        (this.snapshots.get(arena) ?? []).filter((s) => s.seq <= atMost).pop(),
      readEvents: (arena, after, limit) =>
        (this.events.get(arena) ?? []).filter((e) => e.seq > after).slice(0, limit),
      append: (arena, expectedSeq, events, indexed, snapshot) => {
        const hook = this.beforeAppend;
        this.beforeAppend = null;
        if (hook) hook();
        if (events.length === 0) throw { tag: 'invalid-input', val: 'an append needs at least one event' };
        if (expectedSeq === 0n && indexed === undefined) {
          throw { tag: 'invalid-input', val: 'an append that creates an arena needs its record' };
        }
        events.forEach((e, i) => {
          if (e.seq !== expectedSeq + BigInt(i) + 1n) throw { tag: 'invalid-input', val: `event ${e.seq} out of order` };
        });
        const log = this.events.get(arena) ?? [];
        const head = log.length === 0 ? 0n : log[log.length - 1].seq;
        if (head !== expectedSeq) {
          this.conflicts += 1;
          throw { tag: 'conflict' };
        }
        // Nothing above wrote; from here on the append cannot fail, so it is all or nothing.
        log.push(...events);
        this.events.set(arena, log);
        if (indexed !== undefined) this.arenas.set(arena, { ...indexed });
        if (snapshot !== undefined) {
          const kept = this.snapshots.get(arena) ?? [];
          kept.push({ seq: events[events.length - 1].seq, state: snapshot });
          this.snapshots.set(arena, kept);
        }
      },
      participating: (agent) =>
        [...this.arenas.entries()]
          .filter(([, a]) => a.status !== 'archived' && a.participants.includes(agent))
          .map(([id]) => id),
      listArenas: (after, limit) =>
        [...this.arenas.keys()].filter((id) => after === undefined || id > after).sort().slice(0, limit),
      tagged: (tag, after, limit) =>
        [...this.arenas.entries()]
          .filter(([id, a]) => (after === undefined || id > after) && a.tags.includes(tag))
          .map(([id]) => id)
          .sort()
          .slice(0, limit),
    };
  }
}

/**
 * `imports` with every exception a function raises that is not an arena-error value answered as a
 * `storage` error: jco rethrows an `Error` from an import, which traps the instance; a typed error
 * leaves it usable.
 */
export function storageErrors(imports) {
  const guard = (f) => (...args) => {
    try {
      return f(...args);
    } catch (e) {
      if (e !== null && typeof e === 'object' && !(e instanceof Error) && typeof e.tag === 'string') throw e;
      throw { tag: 'storage', val: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
    }
  };
  return Object.fromEntries(Object.entries(imports).map(([name, f]) => [name, guard(f)]));
}

const modules = new Map();
async function getCoreModule(path) {
  if (!modules.has(path)) {
    modules.set(path, WebAssembly.compile(await readFile(new URL(`./generated/${path}`, import.meta.url))));
  }
  return modules.get(path);
}

/** A fresh instance of the arena component on `storage`; returns its `manager` export. */
export async function arena(storage) {
  const root = await instantiate(getCoreModule, {
    ...wasi,
    'arena:core/types': {},
    'arena:core/storage': storageErrors(storage.imports()),
  });
  return root.manager;
}
