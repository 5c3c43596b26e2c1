package app

import (
	"bytes"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// placeholderPage is served when the binary was built without the UI (go build without make).
const placeholderPage = `<!doctype html><html><head><meta charset="utf-8"><title>invokego</title></head>
<body style="font-family:system-ui;background:#16171a;color:#ddd;padding:40px">
<h1>invokego</h1><p>This binary was built without the web UI. Run <code>make build</code> to include it.</p>
<p>The API is available: <a style="color:#6cf" href="/docs">/docs</a>.</p></body></html>`

// uiHandler serves the single-page app: files from dist, and index.html for every other path so that
// client-side routes survive a reload. InvokeAI redirects "/?x" to "/"; that is kept.
func uiHandler(dist fs.FS) http.Handler {
	index, err := fs.ReadFile(dist, "index.html")
	if err != nil {
		index = []byte(placeholderPage)
	}
	files := http.FileServer(http.FS(dist))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && r.URL.RawQuery != "" {
			http.Redirect(w, r, "/", http.StatusTemporaryRedirect)
			return
		}
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p != "" && p != "index.html" {
			if st, err := fs.Stat(dist, p); err == nil && !st.IsDir() {
				if strings.HasPrefix(p, "assets/") {
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				}
				files.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(index))
	})
}
