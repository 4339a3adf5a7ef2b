// Checks the dashboard's size budget: the first load (index.html and the
// scripts and styles it loads before the app runs) must stay under 250 kB
// gzipped. Also prints the whole app's gzipped size, every chunk counted.
// Usage: node scripts/budget.mjs [dir]   (default .output/public)
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const dir = process.argv[2] ?? '.output/public'
const budget = 250 * 1000
const gz = (path) => gzipSync(readFileSync(path), { level: 9 }).length

const html = readFileSync(join(dir, 'index.html'), 'utf8')
// What the browser fetches before the first paint: stylesheets, module
// scripts and their modulepreloads (prefetches load later, when idle).
const refs = new Set()
for (const m of html.matchAll(/<(?:link|script)\b[^>]*>/g)) {
  const tag = m[0]
  if (/rel="prefetch"/.test(tag)) continue
  const url = /(?:href|src)="(\/[^"]+)"/.exec(tag)?.[1]
  if (url && /\.(js|css)$/.test(url)) refs.add(url)
}
let first = gz(join(dir, 'index.html'))
for (const url of refs) first += gz(join(dir, url))

let all = 0
const walk = (d) => {
  for (const name of readdirSync(d)) {
    const p = join(d, name)
    if (statSync(p).isDirectory()) walk(p)
    else if (/\.(js|css)$/.test(name)) all += gz(p)
  }
}
walk(join(dir, '_nuxt'))

const kB = (n) => (n / 1000).toFixed(1) + ' kB'
console.log(`first load: ${kB(first)} gzipped (${refs.size} files + index.html), budget ${kB(budget)}; whole app: ${kB(all)}`)
if (refs.size === 0) {
  console.error('budget: index.html loads no script: is this a generated dashboard?')
  process.exit(1)
}
if (first > budget) {
  console.error(`budget: the first load is ${kB(first - budget)} over budget: drop a dependency or split a chunk`)
  process.exit(1)
}
