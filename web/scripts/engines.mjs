// Checks that every package of the lock file runs on the oldest Node.js
// the dashboard supports: Debian 12's nodejs 18 (what install-deps.sh
// installs there). Nuxt's own range says so, but newer releases of its
// dependencies dropped Node 18; package.json's overrides pin those back.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const semver = createRequire(import.meta.url)('semver')
const oldest = '18.19.0'
const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8'))
const bad = []
for (const [path, pkg] of Object.entries(lock.packages)) {
  const range = pkg.engines?.node
  if (path && range && !semver.satisfies(oldest, range)) bad.push(`${path.replace(/^.*node_modules\//, '')}@${pkg.version} (node ${range})`)
}
if (bad.length) {
  console.error(`engines: these packages do not run on Node.js ${oldest} (Debian 12): ${bad.join(', ')}; pin an older release in package.json's overrides`)
  process.exit(1)
}
console.log(`engines: all ${Object.keys(lock.packages).length - 1} packages accept Node.js ${oldest}`)
