// useLoad runs a fetch, keeps its result and its error (the API's reason
// and hint) for the page, and refetches on demand.
import { errorParts } from '~/utils/api'

export function useLoad<T>(fetcher: () => Promise<T>, initial: T) {
  const data = ref(initial) as Ref<T>
  const error = ref<{ reason: string; hint: string } | null>(null)
  const loading = ref(true)
  let seq = 0
  async function reload() {
    const mine = ++seq
    try {
      const v = await fetcher()
      if (mine !== seq) return
      data.value = v
      error.value = null
    } catch (e) {
      if (mine !== seq) return
      error.value = errorParts(e)
    } finally {
      if (mine === seq) loading.value = false
    }
  }
  return { data, error, loading, reload }
}

/** useAction runs a change and keeps its error for the page. */
export function useAction() {
  const error = ref<{ reason: string; hint: string } | null>(null)
  const busy = ref(false)
  async function run(fn: () => Promise<unknown>): Promise<boolean> {
    busy.value = true
    error.value = null
    try {
      await fn()
      return true
    } catch (e) {
      error.value = errorParts(e)
      return false
    } finally {
      busy.value = false
    }
  }
  return { error, busy, run }
}
