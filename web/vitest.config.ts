// Unit tests of the dashboard's logic (utils/): plain modules, no Nuxt.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: { include: ['tests/**/*.test.ts'], environment: 'node' },
})
