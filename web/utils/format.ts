// Formatting shared by the pages: ages, durations, roles and states.

/** ago says how long before now t was, shortly ("5s ago", "3h ago"). */
export function ago(t: string | Date | null | undefined, now: number = Date.now()): string {
  if (!t) return 'never'
  const ms = now - new Date(t).getTime()
  if (Number.isNaN(ms)) return ''
  if (ms < 0) return 'in ' + span(-ms)
  if (ms < 1000) return 'just now'
  return span(ms) + ' ago'
}

/** span is a duration in ms in its largest unit. */
export function span(ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h`
  return `${Math.floor(h / 24)}d`
}

/** millis shows a boot stage duration in ms. */
export function millis(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`
}

const ranks: Record<string, number> = { viewer: 1, developer: 2, admin: 3, owner: 4 }

/** can says whether role may do what needs at least role need (docs/api.md). */
export function can(role: string | undefined, need: 'viewer' | 'developer' | 'admin' | 'owner'): boolean {
  return (ranks[role ?? ''] ?? 0) >= ranks[need]
}

/** tone maps a deployment, instance, build or domain state to a badge colour. */
export function tone(state: string | undefined): 'ok' | 'warn' | 'bad' | 'idle' {
  switch (state) {
    case 'ready': case 'healthy': case 'verified': case 'done': case 'up': case 'live':
      return 'ok'
    case 'deploying': case 'starting': case 'pending': case 'queued': case 'building': case 'pushing': case 'draining':
      return 'warn'
    case 'failed': case 'lost': case 'failing': case 'down': case 'unrouted':
      return 'bad'
    default:
      return 'idle'
  }
}

/** short shortens an image reference for a table: the digest to 12 hex digits. */
export function shortImage(ref: string): string {
  const at = ref.indexOf('@sha256:')
  if (at < 0) return ref
  return ref.slice(0, at) + '@' + ref.slice(at + 8, at + 20)
}

/** healthByRegion counts healthy instances of the total per region. */
export function healthByRegion(instances: { region: string; state: string; desired?: string }[]): { region: string; healthy: number; total: number }[] {
  const m = new Map<string, { region: string; healthy: number; total: number }>()
  for (const i of instances) {
    if (i.desired && i.desired !== 'running') continue
    const r = m.get(i.region) ?? { region: i.region, healthy: 0, total: 0 }
    r.total++
    if (i.state === 'healthy') r.healthy++
    m.set(i.region, r)
  }
  return [...m.values()].sort((a, b) => a.region.localeCompare(b.region))
}

/** stages is a deploy's progress stage by stage, from its build and instances. */
export function stages(d: { status: string; instances?: { state: string; desired?: string }[] }, build?: { status: string } | null): { name: string; state: 'done' | 'active' | 'todo' | 'failed' }[] {
  const out: { name: string; state: 'done' | 'active' | 'todo' | 'failed' }[] = []
  if (build) {
    const order = ['queued', 'building', 'pushing', 'done']
    const at = order.indexOf(build.status)
    const failed = build.status === 'failed' || build.status === 'cancelled'
    for (const [i, n] of ['queued', 'building', 'pushing'].entries()) {
      out.push({ name: n === 'queued' ? 'build queued' : n === 'building' ? 'building' : 'pushing image', state: failed ? (i === 0 ? 'done' : 'failed') : at > i ? 'done' : at === i ? 'active' : 'todo' })
    }
  }
  const ins = (d.instances ?? []).filter((i) => !i.desired || i.desired === 'running')
  const placed = ins.length > 0
  const healthy = ins.filter((i) => i.state === 'healthy').length
  const failed = d.status === 'failed'
  const ready = d.status === 'ready' || d.status === 'stopped'
  out.push({ name: 'instances placed', state: placed || ready ? 'done' : failed ? 'failed' : 'active' })
  out.push({ name: 'booting', state: ready || (placed && healthy === ins.length) ? 'done' : failed ? 'failed' : placed ? 'active' : 'todo' })
  out.push({ name: 'healthy', state: ready ? 'done' : failed ? 'failed' : healthy > 0 ? 'active' : 'todo' })
  out.push({ name: 'live', state: d.status === 'ready' ? 'done' : failed ? 'failed' : 'todo' })
  return out
}

/** filterLogs keeps lines of stream (all if empty) whose text holds q (case-insensitive). */
export function filterLogs<T extends { stream: string; text: string }>(lines: T[], q: string, stream: string): T[] {
  const needle = q.trim().toLowerCase()
  return lines.filter((l) => (!stream || l.stream === stream) && (!needle || l.text.toLowerCase().includes(needle)))
}

/** RuntimeForm is the settings page's port, health check and size form. */
export interface RuntimeForm {
  port: string | number; health_path: string; vcpus: string | number
  memory_mib: string | number; min_instances_per_region: string | number
}

/**
 * runtimeBody turns the form into PATCH /v1/projects/NAME's fields: whole
 * numbers as numbers (anything else goes as NaN's absence, 0, for the API
 * to refuse with its reason), the health path trimmed ("" is a TCP check).
 */
export function runtimeBody(f: RuntimeForm): { port: number; health_path: string; vcpus: number; memory_mib: number; min_instances_per_region: number } {
  const n = (v: string | number) => {
    const x = typeof v === 'number' ? v : Number(String(v).trim())
    return Number.isInteger(x) ? x : 0
  }
  return {
    port: n(f.port), health_path: f.health_path.trim(), vcpus: n(f.vcpus),
    memory_mib: n(f.memory_mib), min_instances_per_region: n(f.min_instances_per_region),
  }
}
