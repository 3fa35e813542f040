// Slots for cases that run side by side: a case takes one, a case that must run alone takes them
// all. Takers are served in the order they asked, so one waiting for all is not passed over.
export class Slots {
  #free: number;
  readonly #waiting: { count: number; grant: () => void }[] = [];

  constructor(readonly total: number) {
    this.#free = total;
  }

  /** Resolves, with the function that gives them back, once `count` slots are this taker's. */
  take(count: number): Promise<() => void> {
    if (count < 1 || count > this.total) throw new RangeError(`cannot take ${count} of ${this.total} slots`);
    return new Promise((resolve) => {
      this.#waiting.push({ count, grant: () => resolve(this.#releaser(count)) });
      this.#serve();
    });
  }

  #releaser(count: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#free += count;
      this.#serve();
    };
  }

  #serve(): void {
    while (this.#waiting.length > 0 && this.#waiting[0]!.count <= this.#free) {
      const next = this.#waiting.shift()!;
      this.#free -= next.count;
      next.grant();
    }
  }
}
