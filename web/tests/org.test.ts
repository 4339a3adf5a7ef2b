import { describe, expect, it } from 'vitest'
import { chooseOrg, chosenOrg, streamURL, type Store } from '../utils/org'

function memory(): Store & { m: Map<string, string> } {
  const m = new Map<string, string>()
  return { m, getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) }
}

describe('organisation choice', () => {
  it('is empty until chosen, then kept, and forgotten with an empty name', () => {
    const s = memory()
    expect(chosenOrg(s)).toBe('')
    chooseOrg(s, 'side team')
    expect(chosenOrg(s)).toBe('side team')
    chooseOrg(s, '')
    expect(chosenOrg(s)).toBe('')
    expect(s.m.size).toBe(0)
  })
  it('survives storage that throws', () => {
    const s: Store = { getItem: () => { throw new Error('denied') }, setItem: () => { throw new Error('denied') }, removeItem: () => {} }
    expect(chosenOrg(s)).toBe('')
    expect(() => chooseOrg(s, 'x')).not.toThrow()
  })
  it('names the organisation on the stream, escaped', () => {
    expect(streamURL('')).toBe('/v1/stream')
    expect(streamURL('a&b')).toBe('/v1/stream?org=a%26b')
  })
})

describe('the API client and the organisation', () => {
  it('names the chosen organisation on every call but the one that lists them all', async () => {
    const { Client } = await import('../utils/api')
    const seen: (string | null)[] = []
    const c = new Client(async (_path, init) => {
      seen.push(new Headers(init?.headers).get('Zeitwork-Organisation'))
      return new Response('[]', { status: 200 })
    })
    c.org = 'side'
    await c.get('/v1/projects')
    await c.request('GET', '/v1/orgs', undefined, false)
    expect(seen).toEqual(['side', null])
  })
})
