// The dashboard: a single-page app generated to static files (nuxi
// generate), embedded in the zeitwork binary and served by the operator at
// / on the API's origin (internal/web). No server-side rendering: every
// page is data from /v1, fetched by the browser with the session cookie.
export default defineNuxtConfig({
  ssr: false,
  compatibilityDate: '2025-04-01',
  devtools: { enabled: false },
  telemetry: false,
  // The operator's Content-Security-Policy allows no inline style; the
  // default loading screen is one.
  spaLoadingTemplate: false,
  css: ['~/assets/main.css'],
  app: {
    head: {
      title: 'Zeitwork',
      htmlAttrs: { lang: 'en' },
      meta: [
        { name: 'viewport', content: 'width=device-width, initial-scale=1' },
        { name: 'referrer', content: 'no-referrer' },
      ],
    },
  },
  experimental: {
    // No build manifest fetch: nothing here uses route rules.
    appManifest: false,
    payloadExtraction: false,
  },
  features: { inlineStyles: false },
  nitro: { output: { publicDir: '.output/public' } },
})
