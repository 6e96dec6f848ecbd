import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editPrompt } from '../src/bot/prompt-edit.ts';

// A thread reply edits the request it refines; these are replies as people write them.
const MOON = 'my dog wearing a space suit on the moon';

test('"now make him wear sunglasses" adds to the request and keeps its subject and scene', () => {
  assert.deepEqual(editPrompt(MOON, 'now make him wear sunglasses'), {
    prompt: 'my dog wearing a space suit on the moon, wearing sunglasses',
    change: 'added “wearing sunglasses”',
  });
});

test('additions in other words: give, add, make it, a bare phrase', () => {
  assert.equal(editPrompt(MOON, 'give him a red scarf').prompt, `${MOON}, with a red scarf`);
  assert.equal(editPrompt(MOON, 'Add a rocket in the background.').prompt, `${MOON}, with a rocket in the background`);
  assert.equal(editPrompt(MOON, 'make it at night').prompt, `${MOON}, at night`);
  assert.equal(editPrompt(MOON, 'and he is holding a flag').prompt, `${MOON}, holding a flag`);
  assert.equal(editPrompt(MOON, 'in watercolor').prompt, `${MOON}, in watercolor`);
});

test('a swap changes the words it names, and says so', () => {
  assert.deepEqual(editPrompt(MOON, 'change the moon to Mars'), { prompt: 'my dog wearing a space suit on Mars', change: 'changed “the moon” to “Mars”' });
  assert.equal(editPrompt(MOON, 'a diving suit instead of a space suit').prompt, 'my dog wearing a diving suit on the moon');
  // A swap of words the request does not have is an addition, not a lost request.
  assert.equal(editPrompt(MOON, 'replace the hat with a crown').prompt, `${MOON}, replace the hat with a crown`);
});

test('a removal takes the phrase and the word that attached it', () => {
  assert.deepEqual(editPrompt(`${MOON} with a red scarf`, 'remove the red scarf'), { prompt: MOON, change: 'took out “red scarf”' });
  assert.equal(editPrompt(MOON, 'without the space suit').prompt, 'my dog on the moon');
  assert.equal(editPrompt(MOON, 'no hat').prompt, `${MOON}, without hat`);
});

test('"new prompt:" starts over with the words after it', () => {
  assert.deepEqual(editPrompt(MOON, 'new prompt: my cat in the snow'), { prompt: 'my cat in the snow', change: 'replaced the request with your new one' });
});
