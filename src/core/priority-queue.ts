/**
 * Orders two items: negative when `a` must leave the queue before `b`, positive when after,
 * zero when they are equal in rank.
 */
export type Comparator<T> = (a: T, b: T) => number;

interface Entry<T> {
  value: T;
  /** Insertion order; breaks ties so that equal-ranked items leave first-in, first-out. */
  seq: number;
}

/** A stable binary min-heap: `pop` returns the item the comparator ranks first, FIFO among ties. */
export class PriorityQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private nextSeq = 0;

  constructor(private readonly compare: Comparator<T>) {}

  /** Number of items in the queue. */
  get size(): number {
    return this.heap.length;
  }

  /** Adds an item in O(log n). */
  push(value: T): void {
    this.heap.push({ value, seq: this.nextSeq++ });
    this.siftUp(this.heap.length - 1);
  }

  /** Removes and returns the first-ranked item, or `undefined` when empty, in O(log n). */
  pop(): T | undefined {
    if (this.heap.length === 0) return undefined;
    return this.removeAt(0);
  }

  /** The first-ranked item without removing it. */
  peek(): T | undefined {
    return this.heap[0]?.value;
  }

  /** Removes the first item matching `predicate` (in heap order, O(n)); returns it or `undefined`. */
  remove(predicate: (value: T) => boolean): T | undefined {
    const index = this.heap.findIndex((entry) => predicate(entry.value));
    return index === -1 ? undefined : this.removeAt(index);
  }

  /** All items in the order `pop` would return them, without changing the queue. */
  toSortedArray(): T[] {
    return [...this.heap].sort((a, b) => this.rank(a, b)).map((entry) => entry.value);
  }

  /** Removes every item. */
  clear(): void {
    this.heap.length = 0;
  }

  private rank(a: Entry<T>, b: Entry<T>): number {
    return this.compare(a.value, b.value) || a.seq - b.seq;
  }

  private removeAt(index: number): T {
    const removed = this.heap[index];
    const last = this.heap.pop() as Entry<T>;
    if (index < this.heap.length) {
      this.heap[index] = last;
      // The moved entry may belong above or below its new slot; at most one of these moves it.
      this.siftUp(index);
      this.siftDown(index);
    }
    return removed.value;
  }

  private siftUp(index: number): void {
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.rank(this.heap[i], this.heap[parent]) >= 0) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(index: number): void {
    let i = index;
    const n = this.heap.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let first = i;
      if (left < n && this.rank(this.heap[left], this.heap[first]) < 0) first = left;
      if (right < n && this.rank(this.heap[right], this.heap[first]) < 0) first = right;
      if (first === i) return;
      this.swap(i, first);
      i = first;
    }
  }

  private swap(i: number, j: number): void {
    const tmp = this.heap[i];
    this.heap[i] = this.heap[j];
    this.heap[j] = tmp;
  }
}
