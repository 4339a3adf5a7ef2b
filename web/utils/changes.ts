// The live change stream (GET /v1/stream): one EventSource for the page,
// reconnected with backoff when it drops, fanned out to the pages that
// listen. A page refetches what changed; after a reconnect every listener
// refetches, since changes may have been missed meanwhile.

/** Change is the data of one `event: change`. */
export interface Change {
  kind: string
  id?: string
  project?: string
}

/** Source is the part of EventSource the stream uses (a fake in tests). */
export interface Source {
  onopen: ((ev: any) => void) | null
  onerror: ((ev: any) => void) | null
  addEventListener(type: string, fn: (ev: MessageEvent) => void): void
  close(): void
  readyState: number
}

export type Listener = (c: Change | null) => void

/** ChangeStream keeps one connection while it has listeners. */
export class ChangeStream {
  private src: Source | null = null
  private listeners = new Set<Listener>()
  private timer: ReturnType<typeof setTimeout> | null = null
  /** opened: a connection opened since the stream started. */
  opened = false
  /** attempts since the last successful open; sets the backoff. */
  attempts = 0
  connected = false

  constructor(
    private open: (url: string) => Source,
    private url = '/v1/stream',
    private schedule: (fn: () => void, ms: number) => ReturnType<typeof setTimeout> = (fn, ms) => setTimeout(fn, ms),
    private cancel: (t: ReturnType<typeof setTimeout>) => void = (t) => clearTimeout(t),
  ) {}

  /** subscribe adds fn; it is called with each change, and with null after a reconnect. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn)
    if (!this.src && !this.timer) this.connect()
    return () => {
      this.listeners.delete(fn)
      if (this.listeners.size === 0) this.stop()
    }
  }

  /** backoff is the wait before reconnect attempt n (1-based): 0.5 s doubling to 15 s. */
  static backoff(n: number): number {
    return Math.min(15000, 500 * 2 ** Math.max(0, n - 1))
  }

  stop() {
    if (this.timer) this.cancel(this.timer)
    this.timer = null
    this.src?.close()
    this.src = null
    this.connected = false
    this.opened = false
  }

  private connect() {
    this.timer = null
    const src = this.open(this.url)
    this.src = src
    // Every (re)connect makes listeners refetch: the stream carries only
    // changes after it opened, and a page may have fetched before that.
    src.onopen = () => {
      this.opened = true
      this.connected = true
      this.attempts = 0
      this.emit(null)
    }
    // resync: more changed than the stream sends one by one.
    src.addEventListener('resync', () => this.emit(null))
    src.addEventListener('change', (ev: MessageEvent) => {
      let c: Change
      try {
        c = JSON.parse(ev.data)
      } catch {
        return
      }
      if (c && typeof c.kind === 'string') this.emit(c)
    })
    src.onerror = () => {
      // The browser retries some failures itself; own the retry so that
      // a refused (401) or closed stream comes back too, with backoff.
      this.connected = false
      src.close()
      if (this.src !== src) return
      this.src = null
      if (this.listeners.size === 0) return
      this.attempts++
      this.timer = this.schedule(() => this.connect(), ChangeStream.backoff(this.attempts))
    }
  }

  private emit(c: Change | null) {
    for (const fn of [...this.listeners]) fn(c)
  }
}

/** matches says whether change c concerns a listener of kinds (in project, if given). */
export function matches(c: Change | null, kinds: string[], project?: string): boolean {
  if (c === null) return true
  if (!kinds.includes(c.kind)) return false
  if (project && c.project && c.project !== project) return false
  return true
}
