import { describe, expect, it } from 'vitest'
import { ApiError, Client, errorParts } from '../utils/api'

function fake(status: number, body: unknown) {
  const calls: { url: string; init: RequestInit }[] = []
  const fetcher = async (url: string, init: RequestInit = {}) => {
    calls.push({ url, init })
    return new Response(body === undefined ? null : JSON.stringify(body), { status })
  }
  return { calls, fetcher }
}

describe('Client', () => {
  it('sends the CSRF token on every request that changes something', async () => {
    const f = fake(200, {})
    const c = new Client(f.fetcher)
    c.csrf = 'tok123'
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) await c.request(m, '/v1/x', m === 'DELETE' ? undefined : {})
    for (const call of f.calls) expect((call.init.headers as Record<string, string>)['X-CSRF-Token']).toBe('tok123')
  })

  it('sends no CSRF token on reads', async () => {
    const f = fake(200, [])
    const c = new Client(f.fetcher)
    c.csrf = 'tok123'
    await c.get('/v1/projects')
    expect((f.calls[0].init.headers as Record<string, string>)['X-CSRF-Token']).toBeUndefined()
    expect(f.calls[0].init.credentials).toBe('same-origin')
  })

  it('sends JSON bodies and decodes JSON answers', async () => {
    const f = fake(201, { name: 'web' })
    const c = new Client(f.fetcher)
    const p = await c.post<{ name: string }>('/v1/projects', { name: 'web' })
    expect(p.name).toBe('web')
    expect(f.calls[0].init.body).toBe('{"name":"web"}')
    expect((f.calls[0].init.headers as Record<string, string>)['Content-Type']).toBe('application/json')
  })

  it('keeps the API error reason and hint', async () => {
    const f = fake(409, { error: 'project web exists', hint: 'pick another name' })
    const c = new Client(f.fetcher)
    const err: any = await c.post('/v1/projects', { name: 'web' }).catch((e: any) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(409)
    expect(errorParts(err)).toEqual({ reason: 'project web exists', hint: 'pick another name' })
  })

  it('says something useful for an answer that is not JSON', async () => {
    const c = new Client(async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }))
    const err: any = await c.get('/v1/status').catch((e: any) => e)
    expect(err.message).toBe('502 Bad Gateway')
  })

  it('calls onUnauthorized on a 401', async () => {
    const c = new Client(fake(401, { error: 'no session' }).fetcher)
    let called = 0
    c.onUnauthorized = () => called++
    await c.get('/v1/status').catch(() => {})
    expect(called).toBe(1)
  })

  it('turns a network failure into an error with a hint', async () => {
    const c = new Client(async () => { throw new TypeError('Failed to fetch') })
    const err: any = await c.get('/v1/status').catch((e: any) => e)
    expect(err.status).toBe(0)
    expect(err.hint).not.toBe('')
  })
})
