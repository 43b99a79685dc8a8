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

// The shapes the storage functions answer with, as jco lowers them: a value of another shape would
// make jco throw while lowering it, which traps the instance.
const U64_END = 1n << 64n;
const u64 = { what: 'a u64 (a bigint)', check: (v) => typeof v === 'bigint' && v >= 0n && v < U64_END };
const string = { what: 'a string', check: (v) => typeof v === 'string' };
const option = (inner) => ({ what: `${inner.what} or undefined`, inner, optional: true });
const list = (what, item) => ({ what, item });
const record = (what, fields) => ({ what, fields });
const nothing = { what: 'undefined', check: (v) => v === undefined || v === null };

const logHead = record('a log-head record', { seq: u64, hash: string });
const stateSnapshot = record('a state-snapshot record', { seq: u64, state: string });
const event = record('an event record', { seq: u64, at: string, actor: string, kind: string, payload: string, hash: string });
const ids = list('a list of arena ids', string);

const oneOf = (what, names) => ({ what, check: (v) => typeof v === 'string' && names.includes(v) });
const status = oneOf('an arena-status', ['created', 'active', 'settling', 'archived']);
const permission = oneOf('a permission', ['observe', 'read-slots', 'contribute', 'share-facts', 'steer', 'coordinate']);
const variant = (what, cases) => ({ what, cases });

/** What a storage function may throw: an `arena-error`, each case with its payload (`nothing` for none). */
export const ARENA_ERROR = variant('an arena-error', {
  'not-found': nothing,
  'invalid-transition': record('a transition record', { from: status, to: status }),
  'invalid-state': string,
  'permission-denied': permission,
  'invalid-input': string,
  'limit-exceeded': record('a limit record', { what: string, limit: u64 }),
  'already-done': nothing,
  conflict: nothing,
  storage: string,
});

/** What each storage function must return (its `ok` value). */
export const STORAGE_RESULTS = {
  head: option(logHead),
  snapshot: option(stateSnapshot),
  readEvents: list('a list of events', event),
  append: nothing,
  participating: ids,
  listArenas: ids,
  tagged: ids,
};

/** What `value` is, for a message. */
function describe(value) {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** Where `value` departs from `shape`, as `[path, found, expected]`, or `undefined` if it fits. */
function mismatch(shape, value, path = '') {
  if (shape.optional) {
    if (value === undefined || value === null) return undefined;
    const found = mismatch(shape.inner, value, path);
    return found && found[0] === path ? [path, found[1], shape.what] : found;
  }
  if (shape.check) return shape.check(value) ? undefined : [path, describe(value), shape.what];
  if (shape.cases) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return [path, describe(value), shape.what];
    const payload = Object.hasOwn(shape.cases, value.tag) ? shape.cases[value.tag] : undefined;
    if (!payload) {
      const tag = typeof value.tag === 'string' ? `'${value.tag}'` : describe(value.tag);
      return [`${path}.tag`, tag, `one of ${Object.keys(shape.cases).join(', ')}`];
    }
    return mismatch(payload, value.val, `${path}.val`);
  }
  if (shape.item) {
    if (!Array.isArray(value)) return [path, describe(value), shape.what];
    for (let i = 0; i < value.length; i += 1) {
      const found = mismatch(shape.item, value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [path, describe(value), shape.what];
  for (const [name, field] of Object.entries(shape.fields)) {
    const found = mismatch(field, value[name], `${path}.${name}`);
    if (found) return found;
  }
  return undefined;
}

/**
 * `imports` with every exception a function raises that is not an arena-error value answered as a
 * `storage` error, and so is a value of the wrong shape, returned (checked against
 * `STORAGE_RESULTS`) or thrown (against `ARENA_ERROR`), the error naming the function, where in the
 * value, and what was expected: jco rethrows an `Error` from an import, and throws one lowering a
 * mistyped value, either of which traps the instance; a typed error leaves it usable.
 */
export function storageErrors(imports) {
  /** Throws a `storage` error if `value` departs from `shape`; `did` says how the function answered it. */
  const check = (name, did, shape, value) => {
    const wrong = shape && mismatch(shape, value);
    if (!wrong) return;
    const [path, found, expected] = wrong;
    const at = path === '' ? '' : ` at ${path}`;
    throw { tag: 'storage', val: `storage ${name} ${did} ${found}${at} where ${expected} was expected` };
  };
  const isObject = (v) => v !== null && typeof v === 'object';
  const guard = (name, f) => (...args) => {
    let value;
    try {
      value = f(...args);
    } catch (e) {
      // jco takes an exception's own `payload` (a `ComponentError`'s) as the error, else the exception.
      const error = isObject(e) && Object.hasOwn(e, 'payload') ? e.payload : e;
      if (isObject(error) && !(error instanceof Error) && 'tag' in error) {
        check(name, 'threw', ARENA_ERROR, error);
        throw e;
      }
      throw { tag: 'storage', val: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
    }
    // jco takes a returned `{ tag: 'ok' | 'err', val }` as the result itself.
    if (isObject(value) && value.tag === 'err') {
      check(name, 'returned an error of', ARENA_ERROR, value.val);
    } else if (isObject(value) && value.tag === 'ok') {
      check(name, 'returned', STORAGE_RESULTS[name], value.val);
    } else {
      check(name, 'returned', STORAGE_RESULTS[name], value);
    }
    return value;
  };
  return Object.fromEntries(Object.entries(imports).map(([name, f]) => [name, guard(name, f)]));
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
