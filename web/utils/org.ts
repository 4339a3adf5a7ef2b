// The organisation the dashboard acts in, for users in several: kept in
// the browser's storage, sent as the Zeitwork-Organisation header on every
// API call and as ?org= on the change stream (an EventSource cannot send
// headers). Empty means the user's first organisation.

/** Store is the part of localStorage the choice uses (a fake in tests). */
export interface Store {
  getItem(k: string): string | null
  setItem(k: string, v: string): void
  removeItem(k: string): void
}

const key = 'zeitwork-organisation'

/** chosenOrg is the stored choice, or '' for the user's first organisation. */
export function chosenOrg(s: Store | undefined): string {
  try {
    return s?.getItem(key) ?? ''
  } catch {
    return ''
  }
}

/** chooseOrg stores name as the choice; '' forgets it. */
export function chooseOrg(s: Store | undefined, name: string) {
  try {
    if (name) s?.setItem(key, name)
    else s?.removeItem(key)
  } catch { /* storage refused: the choice lasts until the page reloads */ }
}

/** streamURL is the change stream of org ('' for the user's first). */
export function streamURL(org: string): string {
  return org ? `/v1/stream?org=${encodeURIComponent(org)}` : '/v1/stream'
}
