import { describe, expect, it } from 'vitest'
import { ChangeStream, matches, type Source } from '../utils/changes'

class FakeSource implements Source {
  onopen: ((ev: any) => void) | null = null
  onerror: ((ev: any) => void) | null = null
  readyState = 0
  closed = false
  handlers: Record<string, ((ev: MessageEvent) => void)[]> = {}
  addEventListener(type: string, fn: (ev: MessageEvent) => void) {
    ;(this.handlers[type] ??= []).push(fn)
  }
  close() { this.closed = true }
  send(type: string, data: string) {
    for (const fn of this.handlers[type] ?? []) fn({ data } as MessageEvent)
  }
}

function setup() {
  const sources: FakeSource[] = []
  const timers: { fn: () => void; ms: number }[] = []
  const s = new ChangeStream(
    () => { const f = new FakeSource(); sources.push(f); return f },
    '/v1/stream',
    (fn, ms) => { timers.push({ fn, ms }); return timers.length as any },
    () => {},
  )
  return { s, sources, timers }
}

describe('ChangeStream', () => {
  it('delivers change events to listeners', () => {
    const { s, sources } = setup()
    const got: any[] = []
    s.subscribe((c) => got.push(c))
    sources[0].onopen!({})
    sources[0].send('change', '{"kind":"deployment","id":"abc","project":"web"}')
    sources[0].send('change', 'not json')
    expect(got).toEqual([null, { kind: 'deployment', id: 'abc', project: 'web' }])
  })

  it('reconnects with backoff after an error and tells listeners to refetch', () => {
    const { s, sources, timers } = setup()
    const got: any[] = []
    s.subscribe((c) => got.push(c))
    sources[0].onopen!({})
    got.length = 0
    sources[0].onerror!({})
    expect(sources[0].closed).toBe(true)
    expect(timers.map((t) => t.ms)).toEqual([500])
    timers[0].fn()
    expect(sources).toHaveLength(2)
    sources[1].onerror!({})
    expect(timers.map((t) => t.ms)).toEqual([500, 1000])
    timers[1].fn()
    sources[2].onopen!({})
    // After a reconnect every listener refetches: changes may have been missed.
    expect(got).toEqual([null])
    expect(s.attempts).toBe(0)
  })

  it('makes listeners refetch on resync', () => {
    const { s, sources } = setup()
    const got: any[] = []
    s.subscribe((c) => got.push(c))
    sources[0].send('resync', '{}')
    expect(got).toEqual([null])
  })

  it('retries even if the first connection never opened', () => {
    const { s, sources, timers } = setup()
    s.subscribe(() => {})
    sources[0].onerror!({})
    expect(timers).toHaveLength(1)
  })

  it('caps the backoff', () => {
    expect(ChangeStream.backoff(1)).toBe(500)
    expect(ChangeStream.backoff(3)).toBe(2000)
    expect(ChangeStream.backoff(50)).toBe(15000)
  })

  it('closes when the last listener leaves and does not reconnect', () => {
    const { s, sources, timers } = setup()
    const off = s.subscribe(() => {})
    off()
    expect(sources[0].closed).toBe(true)
    sources[0].onerror!({})
    expect(timers).toHaveLength(0)
  })
})

describe('matches', () => {
  it('filters by kind and project; null (reconnected) matches all', () => {
    expect(matches({ kind: 'deployment', project: 'web' }, ['deployment'], 'web')).toBe(true)
    expect(matches({ kind: 'deployment', project: 'api' }, ['deployment'], 'web')).toBe(false)
    expect(matches({ kind: 'token' }, ['deployment'])).toBe(false)
    expect(matches({ kind: 'member' }, ['member'], 'web')).toBe(true)
    expect(matches(null, ['deployment'], 'web')).toBe(true)
  })
})
