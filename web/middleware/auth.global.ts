// Every page but sign-in and invitation acceptance needs a session.
const open = new Set(['/signin', '/invite'])

export default defineNuxtRouteMiddleware(async (to) => {
  const { session, checked, load } = useSession()
  if (!checked.value) await load()
  if (!session.value && !open.has(to.path)) {
    return navigateTo({ path: '/signin', query: to.fullPath !== '/' ? { next: to.fullPath } : {} })
  }
})
