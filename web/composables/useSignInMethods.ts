// The ways to sign in here (GET /v1/session/methods): the sign-in,
// invitation, account and projects pages show GitHub only when the
// operator's GitHub App has an OAuth client.
import { api } from '~/utils/api'

export interface SignInMethods { password: boolean; github: boolean; github_url?: string }

export function useSignInMethods() {
  const methods = useState<SignInMethods>('signin-methods', () => ({ password: true, github: false }))
  const loaded = useState<boolean>('signin-methods-loaded', () => false)
  async function load() {
    if (loaded.value) return
    try {
      methods.value = await api.get<SignInMethods>('/v1/session/methods')
      loaded.value = true
    } catch { /* password only */ }
  }
  return { methods, load }
}
