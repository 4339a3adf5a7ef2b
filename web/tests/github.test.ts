import { describe, expect, it } from 'vitest'
import { githubFailure, githubStartURL, projectNameFor } from '../utils/github'

describe('sign-in with GitHub failures', () => {
  it('names the GitHub user when there is no account', () => {
    expect(githubFailure('no_account', 'octo-cat')?.reason).toBe('No Zeitwork account for GitHub user octo-cat.')
    expect(githubFailure('no_account', 'octo-cat')?.hint).toMatch(/invitation/)
  })
  it('shows no login that is not one', () => {
    const f = githubFailure('no_account', 'evil <b>text</b> here')
    expect(f?.reason).toBe('No Zeitwork account for this GitHub user.')
  })
  it('is null without a code and generic for an unknown one', () => {
    expect(githubFailure(undefined, 'x')).toBeNull()
    expect(githubFailure('', 'x')).toBeNull()
    expect(githubFailure('pay attacker now', '')?.reason).toBe('Sign-in with GitHub failed.')
  })
})

describe('starting a sign-in with GitHub', () => {
  it('carries the invitation token, escaped', () => {
    expect(githubStartURL('/v1/github/oauth/start')).toBe('/v1/github/oauth/start')
    expect(githubStartURL('/v1/github/oauth/start', ' zwi_a+b ')).toBe('/v1/github/oauth/start?invitation=zwi_a%2Bb')
  })
})

describe('project names from repositories', () => {
  it('keeps the repository name in the project name syntax', () => {
    expect(projectNameFor('acme/web')).toBe('web')
    expect(projectNameFor('Acme/My_Great.App')).toBe('my-great-app')
    expect(projectNameFor('acme/--x--')).toBe('x')
  })
})
