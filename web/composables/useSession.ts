// The signed-in session (GET /v1/session), shared by every page: who is
// signed in, in which organisation, with which role, and the CSRF token
// the API client sends on changes.
import { api, ApiError } from '~/utils/api'
import { chooseOrg, chosenOrg } from '~/utils/org'

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

  const orgs = useState<{ name: string; role: string }[]>('orgs', () => [])
  const storage = () => (typeof localStorage === 'undefined' ? undefined : localStorage)

  /** load asks the API who is signed in, in the chosen organisation; null when nobody is. */
  async function load(): Promise<Session | null> {
    api.org = chosenOrg(storage())
    try {
      set(await api.get<Session>('/v1/session'))
    } catch (e) {
      if (api.org && e instanceof ApiError && e.status === 403) {
        // No longer a member of the chosen one: back to the first.
        chooseOrg(storage(), '')
        return load()
      }
      set(null)
    }
    if (session.value) {
      try {
        orgs.value = (await api.request<{ name: string; role: string }[]>('GET', '/v1/orgs', undefined, false)) ?? []
      } catch {
        orgs.value = []
      }
    }
    return session.value
  }

  /** switchOrg makes the dashboard act in name, and loads the app again
   * there, so that every page and the change stream follow it. */
  function switchOrg(name: string) {
    chooseOrg(storage(), name)
    window.location.assign('/')
  }

  // Signing in or out starts in the user's first organisation.
  function forgetOrg() {
    chooseOrg(storage(), '')
    api.org = ''
  }

  async function signIn(email: string, password: string) {
    forgetOrg()
    set(await api.post<Session>('/v1/session', { email, password }))
  }

  async function signInWithLink(token: string) {
    forgetOrg()
    set(await api.post<Session>('/v1/session/link', { token }))
  }

  async function signOut() {
    try {
      await api.del('/v1/session')
    } finally {
      forgetOrg()
      set(null)
    }
  }

  async function signOutEverywhere() {
    await api.post('/v1/session/revoke-all')
    forgetOrg()
    set(null)
  }

  const role = computed(() => session.value?.role ?? session.value?.organisation?.role ?? '')
  const isAdmin = computed(() => !!(session.value?.installation_admin || session.value?.user?.installation_admin))
  return { session, checked, role, isAdmin, orgs, load, switchOrg, signIn, signInWithLink, signOut, signOutEverywhere, set }
}
