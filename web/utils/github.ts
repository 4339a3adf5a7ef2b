// Sign-in with GitHub: the operator sends a failed sign-in back to
// /signin?github_error=CODE&github_login=LOGIN (githubsignin.go); the
// page explains the code. Unknown codes get a generic text, and the
// login is shown only when it looks like one, so a crafted link cannot
// put words in the page.

export interface Failure { reason: string; hint: string }

const loginPattern = /^[A-Za-z0-9-]{1,39}$/

/** githubFailure explains a failed sign-in with GitHub; null for none. */
export function githubFailure(code: unknown, login: unknown): Failure | null {
  if (typeof code !== 'string' || !code) return null
  const who = typeof login === 'string' && loginPattern.test(login) ? `GitHub user ${login}` : 'this GitHub user'
  switch (code) {
    case 'no_account':
      return { reason: `No Zeitwork account for ${who}.`, hint: 'Ask an owner of your organisation for an invitation, then accept it with GitHub.' }
    case 'taken':
      return { reason: `The Zeitwork account for ${who} is linked to another GitHub account.`, hint: 'Sign in with that GitHub account, or with your password, and unlink it on your account page.' }
    case 'invitation':
      return { reason: 'This invitation was already used, was revoked or has expired.', hint: 'Ask an owner for a new one.' }
    case 'invitation_other':
      return { reason: `This invitation is for another address than ${who} has verified.`, hint: 'Accept it with the GitHub account that has the invited address verified, or with a password.' }
    case 'state':
      return { reason: 'The sign-in with GitHub expired or was started in another browser.', hint: 'Start it again from this page.' }
    case 'denied':
      return { reason: 'GitHub did not authorize the sign-in.', hint: 'Try again and authorize the App.' }
    case 'rate_limited':
      return { reason: 'Too many failed sign-ins.', hint: 'Wait a few minutes, or ask an administrator for a sign-in link.' }
    case 'not_configured':
      return { reason: 'Sign-in with GitHub is not configured here.', hint: 'Sign in with your password.' }
    default:
      return { reason: 'Sign-in with GitHub failed.', hint: 'Try again; if it keeps failing, ask the operator\'s admin to check its log.' }
  }
}

/** githubStartURL is where a sign-in (accepting invitation, if any) starts. */
export function githubStartURL(start: string, invitation = ''): string {
  const t = invitation.trim()
  return t ? `${start}?invitation=${encodeURIComponent(t)}` : start
}

/** projectNameFor suggests a project name for a repository: its name,
 * lower-cased, with anything but letters and digits turned to hyphens. */
export function projectNameFor(fullName: string): string {
  const name = fullName.split('/').pop() ?? ''
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63)
}
