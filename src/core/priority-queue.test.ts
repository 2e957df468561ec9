import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PriorityQueue } from './priority-queue.js';

interface Item {
  priority: number;
  id: number;
}

const higherFirst = (a: Item, b: Item): number => b.priority - a.priority;

/** The order pops must follow: priority descending, then insertion order. */
function expectedOrder(items: Item[]): Item[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => b.item.priority - a.item.priority || a.index - b.index)
    .map(({ item }) => item);
}

const itemsArb = fc
  .array(fc.integer({ min: -5, max: 5 }), { maxLength: 200 })
  .map((priorities) => priorities.map((priority, id) => ({ priority, id })));

describe('PriorityQueue', () => {
  it('pops in priority order, first-in first-out among equal priorities', () => {
    fc.assert(
      fc.property(itemsArb, (items) => {
        const queue = new PriorityQueue<Item>(higherFirst);
        for (const item of items) queue.push(item);
        const popped: Item[] = [];
        for (let item = queue.pop(); item !== undefined; item = queue.pop()) popped.push(item);
        expect(popped).toEqual(expectedOrder(items));
      }),
    );
  });

  it('keeps the order when pushes, pops and removals interleave', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), priority: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('pop' as const) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
        const queue = new PriorityQueue<Item>(higherFirst);
        // Model: the live items in insertion order; the queue must always agree with its sort.
        let model: Item[] = [];
        let nextId = 0;
        for (const step of ops) {
          if (step.kind === 'push') {
            const item = { priority: step.priority, id: nextId++ };
            queue.push(item);
            model.push(item);
          } else if (step.kind === 'pop') {
            const expected = expectedOrder(model)[0];
            expect(queue.pop()).toEqual(expected);
            model = model.filter((item) => item !== expected);
          } else if (model.length > 0) {
            const target = model[step.pick % model.length];
            expect(queue.remove((item) => item.id === target.id)).toBe(target);
            model = model.filter((item) => item !== target);
          }
          expect(queue.size).toBe(model.length);
          expect(queue.peek()).toEqual(expectedOrder(model)[0]);
          expect(queue.toSortedArray()).toEqual(expectedOrder(model));
        }
      }),
    );
  });

  it('returns undefined from an empty queue and from a removal that matches nothing', () => {
    const queue = new PriorityQueue<Item>(higherFirst);
    expect(queue.pop()).toBeUndefined();
    expect(queue.peek()).toBeUndefined();
    queue.push({ priority: 1, id: 0 });
    expect(queue.remove((item) => item.id === 9)).toBeUndefined();
    expect(queue.size).toBe(1);
    queue.clear();
    expect(queue.size).toBe(0);
  });
});
