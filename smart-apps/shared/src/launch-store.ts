/**
 * Per-launch state, keyed by a launch id that travels in the URL (`?session=<id>`), never held in
 * sessionStorage alone: two instances of an app side by side in one EHR tab share one sessionStorage, and
 * keying every entry by the id in each frame's own URL keeps their patients apart (DESIGN.md, "Inside Epic
 * and Oracle Health"). Entries live in sessionStorage so a reload of the frame keeps its launch; where storage
 * is unavailable (some embedded contexts block it) they live in memory for the life of the page.
 */

/** The part of the Web Storage API the store uses. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A store in memory (tests, or when sessionStorage is blocked). */
export function memoryStore(): KeyValueStore {
  const map = new Map<string, string>();
  return {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

/** sessionStorage if it can be used here, else memory. */
export function browserStore(): KeyValueStore {
  try {
    const s = globalThis.sessionStorage;
    const probe = '__haven_probe__';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return memoryStore();
  }
}

/** Name of the URL parameter that carries the launch id. */
export const SESSION_PARAM = 'session';
const ID = /^[A-Za-z0-9_-]{16,64}$/;

/** A new launch id: 128 random bits, base64url. */
export function newLaunchId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** True for strings shaped like a launch id (anything else in the URL is ignored). */
export function isLaunchId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

/** Typed JSON entries under one prefix, one per launch id. */
export class LaunchStore<T> {
  private readonly store: KeyValueStore;
  private readonly prefix: string;

  constructor(store: KeyValueStore, prefix: string) {
    this.store = store;
    this.prefix = prefix;
  }

  private key(id: string): string {
    return `${this.prefix}.${id}`;
  }

  get(id: string): T | undefined {
    if (!isLaunchId(id)) return undefined;
    const raw = this.store.getItem(this.key(id));
    if (raw === null) return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return undefined;
    }
  }

  set(id: string, value: T): void {
    if (!isLaunchId(id)) throw new Error('invalid launch id');
    this.store.setItem(this.key(id), JSON.stringify(value));
  }

  remove(id: string): void {
    if (isLaunchId(id)) this.store.removeItem(this.key(id));
  }
}
