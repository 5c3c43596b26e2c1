package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/invokego/invokego/web"
)

// waitTimeout bounds every wait for the UI (generous: the race detector and 2 cores slow the server).
var waitTimeout = 20 * time.Second

// waitTimeoutOverride changes the wait bound (for long generations) and returns the previous one.
func waitTimeoutOverride(d time.Duration) time.Duration {
	old := waitTimeout
	waitTimeout = d
	return old
}

// requireE2E skips unless INVOKEGO_E2E=1, and fails when it is set but the browser or the built UI is missing.
func requireE2E(t *testing.T) string {
	t.Helper()
	if os.Getenv("INVOKEGO_E2E") != "1" {
		t.Skip("browser tests run with INVOKEGO_E2E=1 (make test sets it)")
	}
	bin := os.Getenv("CHROMIUM_BIN")
	if bin == "" {
		for _, c := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(c); err == nil {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		t.Fatal("INVOKEGO_E2E=1 but no Chromium found: install it (apt-get install -y chromium) or set CHROMIUM_BIN")
	}
	idx, err := fs.ReadFile(web.Dist(), "index.html")
	if err != nil || !strings.Contains(string(idx), "/assets/") {
		t.Fatal("INVOKEGO_E2E=1 but the embedded UI is not built: run `make web` (cd web && npm ci && npm run build) before the tests")
	}
	return bin
}

// browser is one Chromium process for a test; each user gets their own browser context (separate storage and cookies).
type browser struct {
	t     *testing.T
	bin   string
	alloc context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	bin := requireE2E(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	// Start the browser itself once; user pages are new browser contexts inside it.
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium (%s): %v", bin, err)
	}
	return &browser{t: t, bin: bin, alloc: root}
}

// page is one tab in its own browser context.
type page struct {
	t    *testing.T
	ctx  context.Context
	name string
	base string
}

func (b *browser) newPage(name, baseURL string) *page {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.alloc, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	p := &page{t: b.t, ctx: ctx, name: name, base: baseURL}
	// The first action creates the tab: it must run on the page's own context, since cancelling the context of
	// that first run closes the tab.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		b.t.Fatalf("new page %s: %v", name, err)
	}
	return p
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.fail("%v", err)
	}
}

func (p *page) fail(format string, args ...any) {
	p.t.Helper()
	p.screenshot("FAIL-" + sanitize(p.t.Name()) + "-" + p.name)
	body, _ := evalJS[string](p, `document.body ? document.body.innerText.slice(0, 3000) : ''`)
	p.t.Fatalf("[%s] "+format+"\n--- page text ---\n%s", append([]any{p.name}, append(args, body)...)...)
}

func (p *page) open(path string) {
	p.t.Helper()
	p.do(chromedp.Navigate(p.base + path))
}

func (p *page) reload() {
	p.t.Helper()
	p.do(chromedp.Reload())
}

func (p *page) viewport(w, h int64) {
	p.t.Helper()
	p.do(chromedp.EmulateViewport(w, h))
}

func evalJS[T any](p *page, js string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// js runs a script and decodes its result.
func js[T any](p *page, script string) T {
	p.t.Helper()
	v, err := evalJS[T](p, script)
	if err != nil {
		p.fail("script failed: %v\n%s", err, script)
	}
	return v
}

// helpers are injected into every evaluation: finding controls by their accessible text, as a user would.
const helpers = `
const __norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const __visible = (el) => !!(el && (el.offsetWidth || el.offsetHeight || el.getClientRects().length)) && getComputedStyle(el).visibility !== 'hidden';
const __scope = (sel) => sel ? document.querySelector(sel) : document;
const __controls = (root) => Array.from(root ? root.querySelectorAll('button, a, [role=menuitem], [role=tab], summary, label.btn') : []);
const __text = (el) => { const c = el.cloneNode(true); c.querySelectorAll('[aria-hidden="true"], input, select, textarea').forEach((x) => x.remove()); return __norm(c.textContent); };
const __byName = (root, name) => __controls(root).filter((el) => __visible(el) && (__norm(el.getAttribute('aria-label')) === name || __text(el) === name));
const __field = (root, label) => {
  if (!root) return null;
  for (const lab of root.querySelectorAll('label')) {
    const s = lab.querySelector(':scope > span');
    const txt = __norm(s ? s.textContent : lab.textContent);
    if (txt === label) { const f = lab.querySelector('input, textarea, select'); if (f) return f; }
  }
  return Array.from(root.querySelectorAll('[aria-label]')).find((el) => __norm(el.getAttribute('aria-label')) === label && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName)) || null;
};
const __setValue = (el, v) => {
  const proto = el.tagName === 'TEXTAREA' ? HTMLTextAreaElement.prototype : el.tagName === 'SELECT' ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, v);
  el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', { bubbles: true }));
};
`

// withHelpers evaluates expr with the helper functions in scope (a fresh scope per call).
func withHelpers(expr string) string {
	return "(() => {" + helpers + "\nreturn (" + expr + ");\n})()"
}

func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitFor polls a boolean script until it is true.
func (p *page) waitFor(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, err := evalJS[bool](p, withHelpers("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.fail("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// has reports a boolean script's value now.
func (p *page) has(cond string) bool {
	p.t.Helper()
	return js[bool](p, withHelpers("!!("+cond+")"))
}

func (p *page) waitText(text string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("text %q", text), "document.body && document.body.innerText.includes("+q(text)+")")
}

// click presses the visible, enabled control with this text or aria-label (inside scope, a CSS selector, if given).
func (p *page) click(name string, scope ...string) {
	p.t.Helper()
	sc := "null"
	if len(scope) > 0 {
		sc = q(scope[0])
	}
	cond := fmt.Sprintf(`(() => { const el = __byName(__scope(%s), %s).find((e) => !e.disabled); if (!el) return false; el.click(); return true; })()`, sc, q(name))
	p.waitFor(fmt.Sprintf("control %q", name), cond)
}

func (p *page) dblclick(name string, scope string) {
	p.t.Helper()
	cond := fmt.Sprintf(`(() => { const el = __byName(__scope(%s), %s)[0]; if (!el) return false; el.dispatchEvent(new MouseEvent('dblclick', {bubbles: true})); return true; })()`, q(scope), q(name))
	p.waitFor(fmt.Sprintf("control %q", name), cond)
}

// control reports whether a visible control with this name exists in scope (and whether it is enabled).
func (p *page) control(name string, scope string) (present, enabled bool) {
	p.t.Helper()
	r := js[[]bool](p, withHelpers(fmt.Sprintf(`(() => { const els = __byName(__scope(%s), %s); return [els.length > 0, els.some((e) => !e.disabled)]; })()`, q(scope), q(name))))
	return r[0], r[1]
}

// fill types into the field labelled label.
func (p *page) fill(label, value string, scope ...string) {
	p.t.Helper()
	sc := "null"
	if len(scope) > 0 {
		sc = q(scope[0])
	}
	cond := fmt.Sprintf(`(() => { const f = __field(__scope(%s), %s); if (!f || f.disabled) return false; __setValue(f, %s); return true; })()`, sc, q(label), q(value))
	p.waitFor(fmt.Sprintf("field %q", label), cond)
}

// check sets a checkbox labelled label.
func (p *page) check(label string, on bool) {
	p.t.Helper()
	cond := fmt.Sprintf(`(() => { const f = __field(document, %s); if (!f) return false; if (f.checked !== %v) f.click(); return true; })()`, q(label), on)
	p.waitFor(fmt.Sprintf("checkbox %q", label), cond)
}

func (p *page) value(label string) string {
	p.t.Helper()
	return js[string](p, withHelpers(fmt.Sprintf(`(() => { const f = __field(document, %s); return f ? f.value : '<missing>'; })()`, q(label))))
}

// selectOptionText picks the option whose text contains text in the select labelled label.
func (p *page) selectOption(label, text string) {
	p.t.Helper()
	cond := fmt.Sprintf(`(() => { const f = __field(document, %s); if (!f) return false; const o = Array.from(f.options).find((o) => o.text.includes(%s)); if (!o) return false; __setValue(f, o.value); return true; })()`, q(label), q(text))
	p.waitFor(fmt.Sprintf("option %q in %q", text, label), cond)
}

func (p *page) upload(selector string, files ...string) {
	p.t.Helper()
	p.do(chromedp.SetUploadFiles(chromedp.CSS(selector), files))
}

// boardSel is the CSS selector of a board's list item.
func boardSel(name string) string {
	return fmt.Sprintf(`[data-testid="board-item"][data-board-name=%s]`, q(name))
}

var artifactsDir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "web", "e2e-artifacts")
}()

// screenshot saves the viewport as web/e2e-artifacts/<name>.png.
func (p *page) screenshot(name string) {
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		p.t.Logf("screenshot dir: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	time.Sleep(300 * time.Millisecond) // let images and transitions settle
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(artifactsDir, sanitize(name)+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
}
