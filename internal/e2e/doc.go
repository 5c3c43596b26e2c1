// Package e2e holds the browser tests of the web UI: they start real invokego servers (internal/apitest) that
// serve the embedded build of web/dist and drive Debian's Chromium through chromedp. They run when
// INVOKEGO_E2E=1 (as `make test` sets) and fail, rather than skip, if Chromium or the built UI is missing then.
// Screenshots of the main screens go to web/e2e-artifacts/ (git-ignored).
package e2e
