// The API client: same-origin fetch with the session cookie, the CSRF
// token on every request that changes something, and the API's error
// reason and hint kept for display.

/** ApiError is a non-2xx answer: the API's reason, its hint and status. */
export class ApiError extends Error {
  status: number
  hint: string
  constructor(status: number, message: string, hint = '') {
    super(message)
    this.status = status
    this.hint = hint
  }
}

/** Fetcher is the subset of fetch the client uses (a fake in tests). */
export type Fetcher = (input: string, init?: RequestInit) => Promise<Response>

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Client calls /v1 on the page's origin. */
export class Client {
  csrf = ''
  org = ''
  onUnauthorized: (() => void) | null = null
  constructor(private fetcher: Fetcher = (i, o) => fetch(i, o)) {}

  /** request sends method path with an optional JSON body and decodes the
   * answer; in the chosen organisation unless withOrg is false (GET
   * /v1/orgs lists only the named one when one is named). */
  async request<T>(method: string, path: string, body?: unknown, withOrg = true): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (!safeMethods.has(method.toUpperCase()) && this.csrf) headers['X-CSRF-Token'] = this.csrf
    if (this.org && withOrg) headers['Zeitwork-Organisation'] = this.org
    let resp: Response
    try {
      resp = await this.fetcher(path, {
        method,
        headers,
        credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (e) {
      throw new ApiError(0, 'the operator did not answer', 'check your connection and try again')
    }
    const text = await resp.text()
    let data: any = undefined
    if (text) {
      try {
        data = JSON.parse(text)
      } catch {
        data = undefined
      }
    }
    if (!resp.ok) {
      if (resp.status === 401 && this.onUnauthorized) this.onUnauthorized()
      const reason = data && typeof data.error === 'string' ? data.error : `${resp.status} ${resp.statusText}`.trim()
      throw new ApiError(resp.status, reason, data && typeof data.hint === 'string' ? data.hint : '')
    }
    return data as T
  }

  get<T>(path: string) { return this.request<T>('GET', path) }
  post<T>(path: string, body?: unknown) { return this.request<T>('POST', path, body ?? {}) }
  put<T>(path: string, body?: unknown) { return this.request<T>('PUT', path, body ?? {}) }
  patch<T>(path: string, body?: unknown) { return this.request<T>('PATCH', path, body ?? {}) }
  del<T>(path: string) { return this.request<T>('DELETE', path) }
}

/** seg escapes one path segment (project names, env var names, emails). */
export function seg(s: string): string {
  return encodeURIComponent(s)
}

/** errorText is what the page shows for a failure: reason, then hint. */
export function errorParts(e: unknown): { reason: string; hint: string } {
  if (e instanceof ApiError) return { reason: e.message, hint: e.hint }
  if (e instanceof Error) return { reason: e.message, hint: '' }
  return { reason: String(e), hint: '' }
}

export const api = new Client()
