import { describe, expect, it } from 'vitest'
import { ago, can, filterLogs, healthByRegion, millis, shortImage, stages, tone } from '../utils/format'

describe('format', () => {
  const now = Date.parse('2026-11-29T12:00:00Z')
  it('ago', () => {
    expect(ago('2026-11-29T11:59:30Z', now)).toBe('30s ago')
    expect(ago('2026-11-29T09:00:00Z', now)).toBe('3h ago')
    expect(ago('2026-11-20T12:00:00Z', now)).toBe('9d ago')
    expect(ago('2026-11-29T12:05:00Z', now)).toBe('in 5m')
    expect(ago(null, now)).toBe('never')
  })
  it('millis', () => {
    expect(millis(12.4)).toBe('12 ms')
    expect(millis(1534)).toBe('1.53 s')
    expect(millis(25000)).toBe('25.0 s')
  })
  it('can follows the role order', () => {
    expect(can('viewer', 'developer')).toBe(false)
    expect(can('developer', 'developer')).toBe(true)
    expect(can('owner', 'admin')).toBe(true)
    expect(can('', 'viewer')).toBe(false)
    expect(can('superuser', 'viewer')).toBe(false)
  })
  it('tone', () => {
    expect(tone('healthy')).toBe('ok')
    expect(tone('starting')).toBe('warn')
    expect(tone('lost')).toBe('bad')
    expect(tone('stopped')).toBe('idle')
  })
  it('shortImage', () => {
    expect(shortImage('r/web@sha256:0123456789abcdef0123')).toBe('r/web@0123456789ab')
    expect(shortImage('nginx:1')).toBe('nginx:1')
  })
  it('healthByRegion counts running instances', () => {
    expect(healthByRegion([
      { region: 'us', state: 'healthy', desired: 'running' },
      { region: 'eu', state: 'starting', desired: 'running' },
      { region: 'eu', state: 'healthy', desired: 'running' },
      { region: 'eu', state: 'healthy', desired: 'stopped' },
    ])).toEqual([{ region: 'eu', healthy: 1, total: 2 }, { region: 'us', healthy: 1, total: 1 }])
  })
  it('stages of a deploy in progress', () => {
    const names = (d: any, b?: any) => stages(d, b).map((s) => `${s.name}:${s.state}`)
    expect(names({ status: 'deploying', instances: [] })).toEqual(['instances placed:active', 'booting:todo', 'healthy:todo', 'live:todo'])
    expect(names({ status: 'deploying', instances: [{ state: 'healthy' }, { state: 'starting' }] })).toEqual(['instances placed:done', 'booting:active', 'healthy:active', 'live:todo'])
    expect(names({ status: 'ready', instances: [{ state: 'healthy' }] })).toEqual(['instances placed:done', 'booting:done', 'healthy:done', 'live:done'])
    expect(names({ status: 'failed' })).toEqual(['instances placed:failed', 'booting:failed', 'healthy:failed', 'live:failed'])
    expect(names({ status: 'deploying' }, { status: 'building' }).slice(0, 3)).toEqual(['build queued:done', 'building:active', 'pushing image:todo'])
  })
  it('filterLogs by text and stream', () => {
    const l = [{ stream: 'stdout', text: 'GET / 200' }, { stream: 'stderr', text: 'panic: boom' }, { stream: 'stdout', text: 'get /x 404' }]
    expect(filterLogs(l, 'get', '')).toHaveLength(2)
    expect(filterLogs(l, '', 'stderr')).toEqual([l[1]])
    expect(filterLogs(l, 'GET', 'stderr')).toEqual([])
  })
})
