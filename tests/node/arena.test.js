// The arena component hosted by Node (jco), with storage in JavaScript.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arena, MemoryStorage } from './host.js';

const spec = (agent, role) => ({ agent, role, permissions: undefined });
const config = (steps) => ({
  goal: 'map the coastline',
  totalSteps: steps,
  strategy: { tag: 'peer', val: 'lead' },
  participants: [spec('lead', 'coordinator'), spec('wendy', 'worker'), spec('otto', 'observer')],
  createdBy: 'node',
});

/** The arena-error payload a call threw. */
function refusal(call) {
  try {
    call();
  } catch (e) {
    return e.payload;
  }
  assert.fail('the call was not refused');
}

test('a full lifecycle, with a refused transition and a refused permission', async () => {
  const manager = await arena(new MemoryStorage());
  const id = manager.create(config(3));
  assert.equal(id.length, 36);
  assert.deepEqual(refusal(() => manager.archive(id, 'lead')), {
    tag: 'invalid-transition',
    val: { from: 'created', to: 'archived' },
  });
  assert.equal(manager.activate(id, 'lead'), 'active');
  assert.deepEqual(refusal(() => manager.completeStep(id, 'otto', 1)), { tag: 'permission-denied', val: 'contribute' });
  for (const step of [1, 2, 3]) manager.completeStep(id, 'wendy', step);
  assert.deepEqual(refusal(() => manager.completeStep(id, 'wendy', 2)), { tag: 'already-done' });
  assert.equal(manager.settle(id, 'lead'), 'settling');
  assert.equal(manager.archive(id, 'lead'), 'archived');
  const info = manager.get(id);
  assert.equal(info.status, 'archived');
  assert.deepEqual(info.outcome, { tag: 'completed' });
  assert.equal(info.aggregate.completedSteps, 3);
  const events = manager.events(id, 0n, 100);
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => BigInt(i + 1)));
  assert.equal(events.at(-1).kind, 'arena-archived');
  assert.equal(manager.verify(id).problem, undefined);
});

test('a conflicting writer makes the component reload and retry', async () => {
  const storage = new MemoryStorage();
  const first = await arena(storage);
  const second = await arena(storage);
  const id = first.create(config(4));
  first.activate(id, 'lead');
  // Between the first instance's read and its append, the second one commits another step.
  storage.beforeAppend = () => second.completeStep(id, 'wendy', 2);
  const aggregate = first.completeStep(id, 'wendy', 1);
  assert.equal(storage.conflicts, 1);
  assert.equal(aggregate.completedSteps, 2);
  assert.equal(first.verify(id).problem, undefined);
});

test('active arenas are sorted, without archived ones', async () => {
  const manager = await arena(new MemoryStorage());
  const ids = [manager.create(config(1)), manager.create(config(1)), manager.create(config(1))];
  manager.abort(ids[1], 'lead', 'called off');
  assert.deepEqual(manager.activeArenasFor('wendy'), [ids[0], ids[2]].sort());
});

test('artifacts hand work over, and facts outlive their arena across arenas by tag', async () => {
  const manager = await arena(new MemoryStorage());
  const ids = [manager.create(config(1)), manager.create(config(1))];
  for (const id of ids) manager.activate(id, 'lead');
  const draft = manager.putArtifact(ids[0], 'wendy', { kind: 'text', content: 'a draft', metadata: [['lang', 'en']] });
  assert.equal(draft.author, 'wendy');
  assert.equal(draft.id, `art-${draft.seq}`);
  assert.deepEqual(refusal(() => manager.readSlot(ids[0], 'otto', 'nobody')), { tag: 'not-found' });
  const seen = manager.readSlot(ids[0], 'otto', 'wendy');
  assert.deepEqual(seen.artifacts.map((a) => a.content), ['a draft']);
  const merged = manager.merge(ids[0], 'lead', { kind: 'text', content: 'merged', sources: [draft.id], metadata: [] });
  assert.deepEqual(merged.sources, [draft.id]);
  assert.deepEqual(refusal(() => manager.addFact(ids[0], 'wendy', { content: 'x', confidence: NaN, tags: [] })).tag, 'invalid-input');
  manager.addFact(ids[0], 'wendy', { content: 'Herons nest at the Straße', confidence: 0.75, tags: ['birds'] });
  manager.addFact(ids[1], 'lead', { content: 'Gulls follow the boats', confidence: 1, tags: ['birds'] });
  manager.abort(ids[0], 'lead', 'done early');
  const found = manager.queryFacts(undefined, { tag: 'birds', text: undefined }, undefined, 10);
  assert.deepEqual(found.map((f) => [f.arena, f.source]), [[ids[0], 'wendy'], [ids[1], 'lead']].sort());
  const folded = manager.queryFacts(ids[0], { tag: undefined, text: 'STRASSE' }, undefined, 10);
  assert.equal(folded.length, 1);
  const report = manager.get(ids[0]).report;
  assert.deepEqual([report.facts, report.artifacts, report.merges], [1, 2, 1]);
  assert.deepEqual(report.outcome, { tag: 'aborted', val: 'done early' });
  // An abort accepts no result, even after a merge; the report ends at the aborting event.
  assert.equal(report.result, undefined);
  const last = manager.events(ids[0], 0n, 100).at(-1);
  assert.deepEqual([last.kind, report.headSeq, report.headHash], ['arena-aborted', last.seq, last.hash]);
  assert.equal(manager.verify(ids[0]).problem, undefined);
});

test('a fresh instance rebuilds an arena from the log and the snapshots its storage kept', async () => {
  const storage = new MemoryStorage();
  const writer = await arena(storage);
  const id = writer.create(config(3));
  writer.activate(id, 'lead');
  writer.completeStep(id, 'wendy', 1);
  const cold = await arena(storage);
  assert.deepEqual(cold.get(id), writer.get(id));
  assert.deepEqual(refusal(() => cold.completeStep(id, 'wendy', 1)), { tag: 'already-done' });
  assert.equal(cold.verify(id).problem, undefined);
});

test('an exception in a storage function is a storage error, and the instance carries on', async () => {
  const storage = new MemoryStorage();
  const manager = await arena(storage);
  const id = manager.create(config(3));
  storage.beforeAppend = () => {
    throw new Error('disk full');
  };
  assert.deepEqual(refusal(() => manager.activate(id, 'lead')), { tag: 'storage', val: 'Error: disk full' });
  assert.equal(manager.activate(id, 'lead'), 'active');
  const cold = await arena(storage);
  const events = storage.events;
  storage.events = undefined; // every read of the log now throws a TypeError
  const failed = refusal(() => cold.get(id));
  assert.equal(failed.tag, 'storage');
  assert.match(failed.val, /^TypeError: /);
  storage.events = events;
  assert.equal(cold.get(id).status, 'active');
});

test('a storage function answering a value of the wrong type is a storage error, and the instance carries on', async () => {
  const storage = new MemoryStorage();
  const writer = await arena(storage);
  const id = writer.create(config(3));
  writer.activate(id, 'lead');
  const wrong = {}; // function name -> the value it answers instead of its own
  const mistyped = {
    imports: () =>
      Object.fromEntries(
        Object.entries(storage.imports()).map(([name, f]) => [name, (...args) => (name in wrong ? wrong[name] : f(...args))]),
      ),
  };
  const cold = await arena(mistyped);
  const cases = [
    ['readEvents', 'seq 1', 'storage readEvents returned a string where a list of events was expected'],
    ['head', 7, 'storage head returned a number where a log-head record or undefined was expected'],
    ['head', { seq: 2n }, 'storage head returned undefined at .hash where a string was expected'],
    ['head', { tag: 'ok', val: { seq: 2n } }, 'storage head returned undefined at .hash where a string was expected'],
    ['readEvents', [{ ...storage.events.get(id)[0], seq: 1 }], 'storage readEvents returned a number at [0].seq where a u64 (a bigint) was expected'],
    ['listArenas', [id, 5], 'storage listArenas returned a number at [1] where a string was expected'],
  ];
  for (const [name, value, message] of cases) {
    wrong[name] = value;
    const call = name === 'listArenas' ? () => cold.listArenas(undefined, 10) : () => cold.get(id);
    assert.deepEqual(refusal(call), { tag: 'storage', val: message });
    delete wrong[name];
  }
  wrong.append = 'done';
  assert.deepEqual(refusal(() => cold.completeStep(id, 'wendy', 1)), {
    tag: 'storage',
    val: 'storage append returned a string where undefined was expected',
  });
  delete wrong.append;
  assert.equal(cold.get(id).status, 'active');
  assert.equal(cold.completeStep(id, 'wendy', 1).completedSteps, 1);
  assert.equal(cold.verify(id).problem, undefined);
});

test('a storage function throwing an arena-error of the wrong shape is a storage error, and the instance carries on', async () => {
  const storage = new MemoryStorage();
  const manager = await arena(storage);
  const id = manager.create(config(3));
  const cases = [
    [{ tag: 'full' }, "storage append threw 'full' at .tag where one of not-found, invalid-transition, invalid-state, permission-denied, invalid-input, limit-exceeded, already-done, conflict, storage was expected"],
    [{ tag: 'storage', val: 28 }, 'storage append threw a number at .val where a string was expected'],
    [{ tag: 'limit-exceeded', val: { what: 'events', limit: 10 } }, 'storage append threw a number at .val.limit where a u64 (a bigint) was expected'],
    [{ tag: 'permission-denied', val: 'admin' }, 'storage append threw a string at .val where a permission was expected'],
  ];
  for (const [thrown, message] of cases) {
    storage.beforeAppend = () => {
      throw thrown;
    };
    assert.deepEqual(refusal(() => manager.activate(id, 'lead')), { tag: 'storage', val: message });
  }
  // As jco reads them: an exception's own `payload`, and a returned `{ tag: 'err', val }`.
  storage.beforeAppend = () => {
    throw Object.assign(new Error('refused'), { payload: { tag: 'storage', val: 28 } });
  };
  assert.deepEqual(refusal(() => manager.activate(id, 'lead')), {
    tag: 'storage',
    val: 'storage append threw a number at .val where a string was expected',
  });
  const mistyped = {
    imports: () => ({ ...storage.imports(), head: () => ({ tag: 'err', val: { tag: 'invalid-state', val: undefined } }) }),
  };
  const cold = await arena(mistyped);
  assert.deepEqual(refusal(() => cold.get(id)), {
    tag: 'storage',
    val: 'storage head returned an error of undefined at .val where a string was expected',
  });
  storage.beforeAppend = () => {
    throw { tag: 'limit-exceeded', val: { what: 'events', limit: 10n } };
  };
  assert.deepEqual(refusal(() => manager.activate(id, 'lead')), { tag: 'limit-exceeded', val: { what: 'events', limit: 10n } });
  assert.equal(manager.activate(id, 'lead'), 'active');
});
