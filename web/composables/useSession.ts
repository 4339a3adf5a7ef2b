// The signed-in session (GET /v1/session), shared by every page: who is
// signed in, in which organisation, with which role, and the CSRF token
// the API client sends on changes.
import { api } from '~/utils/api'

export interface Session {
  user: { id: string; email: string; installation_admin?: boolean }
  organisation: { id?: string; name: string; role?: string }
  role: string
  csrf_token: string
  installation_admin?: boolean
}

export function useSession() {
  const session = useState<Session | null>('session', () => null)
  const checked = useState<boolean>('session-checked', () => false)

  function set(s: Session | null) {
    session.value = s
    api.csrf = s?.csrf_token ?? ''
    checked.value = true
  }

  /** load asks the API who is signed in; null when nobody is. */
  async function load(): Promise<Session | null> {
    try {
      set(await api.get<Session>('/v1/session'))
    } catch {
      set(null)
    }
    return session.value
  }

  async function signIn(email: string, password: string) {
    set(await api.post<Session>('/v1/session', { email, password }))
  }

  async function signInWithLink(token: string) {
    set(await api.post<Session>('/v1/session/link', { token }))
  }

  async function signOut() {
    try {
      await api.del('/v1/session')
    } finally {
      set(null)
    }
  }

  async function signOutEverywhere() {
    await api.post('/v1/session/revoke-all')
    set(null)
  }

  const role = computed(() => session.value?.role ?? session.value?.organisation?.role ?? '')
  const isAdmin = computed(() => !!(session.value?.installation_admin || session.value?.user?.installation_admin))
  return { session, checked, role, isAdmin, load, signIn, signInWithLink, signOut, signOutEverywhere, set }
}
