// useLive refetches a page's data whenever /v1/stream says one of kinds
// changed (in project, when given), and after every reconnect. Never polls.
import { api } from '~/utils/api'
import { ChangeStream, matches, type Source } from '~/utils/changes'
import { streamURL } from '~/utils/org'

let stream: ChangeStream | null = null

function shared(): ChangeStream {
  // The stream follows the organisation the API client acts in.
  if (!stream) stream = new ChangeStream((url) => new EventSource(url, { withCredentials: true }) as unknown as Source, streamURL(api.org))
  return stream
}

export function useLive(kinds: string[], refetch: () => unknown, project?: () => string | undefined) {
  let pending = false
  const run = () => {
    // Coalesce a burst of changes into one refetch per tick.
    if (pending) return
    pending = true
    queueMicrotask(() => {
      pending = false
      refetch()
    })
  }
  let off: (() => void) | null = null
  onMounted(() => {
    off = shared().subscribe((c) => {
      if (matches(c, kinds, project?.())) run()
    })
  })
  onBeforeUnmount(() => off?.())
}

/** closeLive ends the stream (sign-out). */
export function closeLive() {
  stream?.stop()
  stream = null
}
