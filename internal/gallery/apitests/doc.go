// Package apitests holds the gallery's HTTP tests: every route run against a real server (apitest), in
// single-user and multi-user mode, with the authorisation tables of docs/security.md §5.1–§5.3 and the attacks found in
// the review of InvokeAI PR #9018. They live apart from package gallery so that the gallery's unit tests,
// fuzz targets and benchmarks build without the whole application.
package apitests
