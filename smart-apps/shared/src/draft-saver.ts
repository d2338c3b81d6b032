/**
 * Saves drafts as they are typed: changes are gathered for `delayMs`, then saved; one save at a time, always of
 * the latest value, so a slow server never receives an older draft after a newer one. `flush` saves now and
 * waits (before submitting or leaving). Errors are reported, and the next change tries again.
 */

/** What the saver reports. */
export type SaveState =
  | { kind: 'idle' }
  | { kind: 'pending' }
  | { kind: 'saving' }
  | { kind: 'saved'; at: number }
  | { kind: 'error'; error: unknown };

/** Debounced, serialised saving of the latest value. */
export class DraftSaver<T> {
  private latest: { value: T } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;

  private readonly save: (value: T) => Promise<void>;
  private readonly onState: (state: SaveState) => void;
  private readonly delayMs: number;
  private readonly now: () => number;

  constructor(
    save: (value: T) => Promise<void>,
    onState: (state: SaveState) => void = () => {},
    delayMs = 800,
    now: () => number = Date.now,
  ) {
    this.save = save;
    this.onState = onState;
    this.delayMs = delayMs;
    this.now = now;
  }

  /** A new value to save soon. */
  update(value: T): void {
    this.latest = { value };
    this.onState({ kind: 'pending' });
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run().catch(() => {});
    }, this.delayMs);
  }

  private async run(): Promise<void> {
    while (this.running) await this.running.catch(() => {});
    const next = this.latest;
    if (!next) return;
    this.latest = undefined;
    this.onState({ kind: 'saving' });
    this.running = this.save(next.value).then(
      () => {
        this.running = undefined;
        if (!this.latest) this.onState({ kind: 'saved', at: this.now() });
      },
      (error: unknown) => {
        this.running = undefined;
        // Keep the value so flush() or the next change retries it.
        this.latest ??= next;
        this.onState({ kind: 'error', error });
        throw error;
      },
    );
    await this.running;
    if (this.latest && !this.timer) await this.run();
  }

  /** Saves whatever is waiting now; resolves when it is stored, rejects with the save error. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.running) await this.running.catch(() => {});
    if (this.latest) await this.run();
  }

  /** Stops any scheduled save (the page is going away without saving). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.latest = undefined;
  }
}
