import { describe, expect, it } from 'vitest'
import { runtimeBody } from '../utils/format'

describe('runtimeBody', () => {
  it('sends numbers from the form, whether strings or numbers', () => {
    expect(runtimeBody({ port: '3000', health_path: ' /healthz ', vcpus: 2, memory_mib: '512', min_instances_per_region: ' 2 ' }))
      .toEqual({ port: 3000, health_path: '/healthz', vcpus: 2, memory_mib: 512, min_instances_per_region: 2 })
  })
  it('sends an empty health path for a TCP check', () => {
    expect(runtimeBody({ port: 8080, health_path: '  ', vcpus: 1, memory_mib: 256, min_instances_per_region: 3 }).health_path).toBe('')
  })
  it('sends 0 for what is not a whole number, for the API to refuse with its reason', () => {
    const b = runtimeBody({ port: '80.5', health_path: '', vcpus: 'x', memory_mib: '', min_instances_per_region: 1 })
    expect([b.port, b.vcpus]).toEqual([0, 0])
  })
})
