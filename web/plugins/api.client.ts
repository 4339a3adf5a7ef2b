// A 401 on any call means the session ended (expired, signed out
// elsewhere): back to sign-in.
import { api } from '~/utils/api'

export default defineNuxtPlugin(() => {
  const router = useRouter()
  api.onUnauthorized = () => {
    const { set } = useSession()
    set(null)
    const here = router.currentRoute.value
    if (here.path !== '/signin' && here.path !== '/invite') router.push({ path: '/signin', query: { next: here.fullPath } })
  }
})
