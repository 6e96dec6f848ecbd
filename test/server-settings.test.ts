import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../src/errors.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { DEFAULT_SERVER_SETTINGS, getServerSettings, updateServerSettings } from '../src/store/server-settings.ts';
import { findBlockedPhrase, normalizeForMatch } from '../src/util/blocked-phrases.ts';

const GUILD = '1200000000000000011';

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'xcot-settings-'));
  const store = await openStore({ dataDir: dir });
  try {
    await fn(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a server that never changed anything, and DMs, get the defaults', async () => {
  await withStore(async (store) => {
    assert.deepEqual(await getServerSettings(store, GUILD), DEFAULT_SERVER_SETTINGS);
    assert.deepEqual(await getServerSettings(store, null), DEFAULT_SERVER_SETTINGS);
    assert.deepEqual(
      [DEFAULT_SERVER_SETTINGS.quotaUserPerHour, DEFAULT_SERVER_SETTINGS.quotaUserPerDay, DEFAULT_SERVER_SETTINGS.quotaGuildPerHour, DEFAULT_SERVER_SETTINGS.quotaGuildPerDay],
      [0, 0, 0, 0],
    );
  });
});

test('updates are validated and versioned; fields missing from an older record get their defaults', async () => {
  await withStore(async (store) => {
    const { before, after } = await updateServerSettings(store, GUILD, () => ({ countMax: 2, quotaUserPerDay: 10 }));
    assert.equal(before.countMax, 4);
    assert.deepEqual([after.countMax, after.quotaUserPerDay, after.version], [2, 10, 1]);
    assert.deepEqual(await store.ns('settings').get(GUILD), after);

    await assert.rejects(updateServerSettings(store, GUILD, () => ({ countDefault: 3 })), (e: unknown) => e instanceof InputError && /default image count/.test(e.message));
    await assert.rejects(updateServerSettings(store, GUILD, () => ({ quotaUserPerHour: -1 })), InputError);
    assert.equal((await getServerSettings(store, GUILD)).countDefault, 1, 'nothing stored by a refused update');

    await store.ns('settings').set(GUILD, { version: 1, countMax: 3 });
    const read = await getServerSettings(store, GUILD);
    assert.deepEqual([read.countMax, read.blockedPhrases, read.tracePublic], [3, [], true]);
  });
});

test('a stored record that does not validate, or from a newer bot, is an error, never the defaults', async () => {
  await withStore(async (store) => {
    await store.ns('settings').set(GUILD, { version: 1, blockedPhrases: 'gore' });
    await assert.rejects(getServerSettings(store, GUILD), /invalid/);
    await store.ns('settings').set(GUILD, { version: 2 });
    await assert.rejects(getServerSettings(store, GUILD), /invalid/);
  });
});

test('block list matching: normalized, whole words only', () => {
  assert.equal(normalizeForMatch('  Ｍoon-LANDING\u200b! Café '), 'moon landing cafe');
  const phrases = ['cat', 'moon landing'];
  assert.equal(findBlockedPhrase(['a CAT on a mat'], phrases), 'cat');
  assert.equal(findBlockedPhrase(['concatenate', 'a catalog'], phrases), undefined);
  assert.equal(findBlockedPhrase([null, undefined, 'the moon... landing'], phrases), 'moon landing');
  assert.equal(findBlockedPhrase(['c a t'], phrases), undefined, 'spaced out gets past it, as documented');
  assert.equal(findBlockedPhrase(['anything'], []), undefined);
});
