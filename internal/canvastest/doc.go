// Package canvastest runs the canvas's checked-in expected graphs (web/src/canvas/testdata, the output of the
// UI's graph builders, see docs/canvas.md) through the HTTP API on the tiny fixture model, so that the graphs
// the canvas sends are known to validate and run on the server.
package canvastest
