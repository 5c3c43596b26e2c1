package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/config"
)

// installTiny installs the tiny fixture model (and skips when the diffusion nodes are not wired).
func installTiny(t *testing.T, env *apitest.Env, auth ...apitest.ReqOpt) {
	t.Helper()
	for _, typ := range []string{"main_model_loader", "create_gradient_mask", "canvas_v2_mask_and_crop", "alpha_mask_to_tensor"} {
		if !hasInvocation(t, env, typ) {
			t.Skipf("node type %q is not registered: the canvas cannot generate", typ)
		}
	}
	abs, _ := filepath.Abs(tinyModelPath())
	var job struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(abs), append(auth, apitest.JSON(map[string]any{}))...).Expect(http.StatusCreated).Decode(&job)
	deadline := time.Now().Add(3 * time.Minute)
	for job.Status != "completed" {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("installing the fixture model: status %q, error %q", job.Status, job.Error)
		}
		time.Sleep(200 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID), auth...).Expect(http.StatusOK).Decode(&job)
	}
}

// patternPNG writes an opaque w×h test picture and returns its path.
func patternPNG(t *testing.T, w, h int) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: uint8((x/16 + y/16) % 2 * 200), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("pattern%dx%d.png", w, h))
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// canvasDoc is the part of the persisted canvas document the tests read.
type canvasDoc struct {
	Bbox struct {
		X, Y, Width, Height int
	} `json:"bbox"`
	Layers []struct {
		ID      string   `json:"id"`
		Kind    string   `json:"kind"`
		Name    string   `json:"name"`
		ScaleX  *float64 `json:"scaleX"`
		Rotate  *float64 `json:"rotation"`
		Objects []struct {
			Type      string    `json:"type"`
			ImageName string    `json:"image_name"`
			Points    []float64 `json:"points"`
			Pressure  []float64 `json:"pressure"`
		} `json:"objects"`
	} `json:"layers"`
	Staging []struct {
		ImageName string `json:"image_name"`
	} `json:"staging"`
}

// storedDoc reads the canvas document the server keeps for the caller (nil when there is none).
func storedDoc(t *testing.T, env *apitest.Env, auth ...apitest.ReqOpt) *canvasDoc {
	t.Helper()
	var raw *string
	env.Do("GET", "/api/v1/client_state/default/get_by_key?key=invokego.canvas", auth...).Expect(http.StatusOK).Decode(&raw)
	if raw == nil {
		return nil
	}
	var d canvasDoc
	if err := json.Unmarshal([]byte(*raw), &d); err != nil {
		t.Fatalf("stored canvas: %v", err)
	}
	return &d
}

// docToClient maps a document point to viewport pixels with the canvas's own transform.
func (p *page) docToClient(x, y float64) (float64, float64) {
	p.t.Helper()
	r := js[[]float64](p, fmt.Sprintf(`(() => { const q = window.__invokegoCanvas.docToClient(%g, %g); return [q.x, q.y]; })()`, x, y))
	return r[0], r[1]
}

// stroke drags the mouse through document points with the left button held.
func (p *page) stroke(pts ...[2]float64) {
	p.t.Helper()
	p.strokeSteps(pts, nil)
}

// loadAvg is the machine's load average, reported beside timings.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// strokeSteps presses and moves through pts, calls beforeRelease (when given), then releases.
func (p *page) strokeSteps(pts [][2]float64, beforeRelease func()) {
	p.t.Helper()
	var acts []chromedp.Action[chromedp.Void]
	for i, pt := range pts {
		x, y := p.docToClient(pt[0], pt[1])
		typ := chromedp.MouseMoved
		if i == 0 {
			typ = chromedp.MousePressed
		}
		acts = append(acts, chromedp.MouseEvent(typ, x, y, chromedp.ButtonLeft, func(q *input.DispatchMouseEventParams) { q.Buttons = 1; q.ClickCount = 1 }))
	}
	p.do(acts...)
	if beforeRelease != nil {
		beforeRelease()
	}
	x, y := p.docToClient(pts[len(pts)-1][0], pts[len(pts)-1][1])
	acts = []chromedp.Action[chromedp.Void]{}
	acts = append(acts, chromedp.MouseEvent(chromedp.MouseReleased, x, y, chromedp.ButtonLeft, func(q *input.DispatchMouseEventParams) { q.ClickCount = 1 }))
	p.do(acts...)
}

// selectLayer clicks a layer by its name in the layer list.
func (p *page) selectLayer(name string) {
	p.t.Helper()
	p.click(name, fmt.Sprintf(`[data-testid="layer-item"][data-layer-name=%s]`, q(name)))
}

// waitSaved waits until the document on the server has the wanted property.
func waitDoc(t *testing.T, env *apitest.Env, what string, cond func(*canvasDoc) bool, auth ...apitest.ReqOpt) *canvasDoc {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		d := storedDoc(t, env, auth...)
		if d != nil && cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the stored canvas: %s", what)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func (d *canvasDoc) layer(name string) int {
	for i, l := range d.Layers {
		if l.Name == name {
			return i
		}
	}
	return -1
}

func fetchPNG(t *testing.T, env *apitest.Env, name string, auth ...apitest.ReqOpt) image.Image {
	t.Helper()
	r := env.Do("GET", "/api/v1/images/i/"+name+"/full", auth...).Expect(http.StatusOK)
	img, err := png.Decode(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return img
}

func px(img image.Image, x, y int) color.NRGBA {
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

// The canvas end to end on the tiny model: an image sent from the gallery, a painted mask inpainted (pixels away
// from the mask kept exactly after paste-back), the box extended past the image and outpainted, two regional
// prompts, a staged image accepted into a layer, and the document found as it was after a reload.
func TestE2ECanvas(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	installTiny(t, env)
	_, up := uploadAPI(t, env, "", "", patternPNG(t, 128, 128))
	src := up["image_name"].(string)

	p := b.newPage("single", env.URL)
	p.open("/canvas")
	p.waitFor("the canvas", `document.querySelector('[data-testid="canvas-stage"] canvas')`)
	p.screenshot("canvas-empty-1280")

	// Send to canvas from the gallery viewer.
	p.click("Gallery")
	p.click("Open image "+src, `section[aria-label="Images"]`)
	p.click("Send to Canvas")
	p.waitFor("the canvas with the image layer", `document.querySelectorAll('[data-testid="layer-item"][data-layer-kind="raster"]').length === 2`)
	d := waitDoc(t, env, "the image layer", func(d *canvasDoc) bool {
		return d.Bbox.Width == 128 && len(d.Layers) == 3 && len(d.Layers[0].Objects) == 1 && d.Layers[0].Objects[0].ImageName == src
	})
	imageLayer := d.Layers[0].Name

	p.fill("Prompt", "a red barn", `[data-testid="canvas-screen"]`)
	p.fill("Steps", "3", `[data-testid="canvas-screen"]`)
	p.check("Random Seed", false)
	p.fill("Seed", "7", `[data-testid="canvas-screen"]`)
	p.fill("Mask Blur", "4", `[data-testid="canvas-screen"]`)
	p.fill("Coherence Edge Size", "8", `[data-testid="canvas-screen"]`)

	// Paint a mask in the middle and inpaint.
	p.selectLayer("Inpaint Mask 1")
	p.click("Brush")
	p.fill("Size", "8")
	p.stroke([2]float64{56, 64}, [2]float64{60, 64}, [2]float64{64, 64}, [2]float64{68, 64}, [2]float64{72, 64})
	waitDoc(t, env, "the mask stroke", func(d *canvasDoc) bool {
		i := d.layer("Inpaint Mask 1")
		return i >= 0 && len(d.Layers[i].Objects) == 1
	})
	p.screenshot("canvas-mask-1280")
	old := waitTimeoutOverride(3 * time.Minute)
	p.click("Invoke", `[data-testid="canvas-screen"]`)
	p.waitFor("the inpaint candidate", `document.querySelector('[data-testid="staging-area"]')`)
	waitTimeoutOverride(old)
	if mode := js[string](p, `document.querySelector('[data-testid="canvas-mode"]').innerText`); !strings.Contains(mode, "inpaint") {
		t.Fatalf("mode shown %q, want inpaint", mode)
	}
	p.screenshot("canvas-staging-1280")
	p.viewport(420, 800)
	p.screenshot("canvas-staging-narrow")
	p.viewport(1280, 800)
	p.click("Accept")
	d = waitDoc(t, env, "the accepted layer", func(d *canvasDoc) bool { return len(d.Layers) == 4 && len(d.Staging) == 0 })
	result := d.Layers[0].Objects[0].ImageName
	// The mask stroke covers x 52..76, y 60..68; the coherence band (8 px, on the 8-pixel latent grid, plus the
	// bilinear shrink's reach) and the 4-pixel fade stay within 24 px of it.
	orig, got := fetchPNG(t, env, src), fetchPNG(t, env, result)
	kept, changed := 0, 0
	for y := 0; y < 128; y++ {
		for x := 0; x < 128; x++ {
			if x < 52-24 || x >= 76+24 || y < 60-24 || y >= 68+24 {
				kept++
				if px(got, x, y) != px(orig, x, y) {
					t.Fatalf("inpaint changed (%d,%d) outside the mask: %v, was %v", x, y, px(got, x, y), px(orig, x, y))
				}
			} else if x >= 56 && x < 72 && y >= 62 && y < 66 && px(got, x, y) != px(orig, x, y) {
				changed++
			}
		}
	}
	t.Logf("inpaint: %d pixels outside the mask identical after paste-back, %d of 64 masked pixels changed", kept, changed)
	if changed == 0 {
		t.Error("inpaint changed none of the masked pixels")
	}

	// Clear the mask, extend the box past the image's right edge: outpaint.
	p.selectLayer("Inpaint Mask 1")
	p.click("Clear")
	p.fill("Box X", "64")
	waitDoc(t, env, "the moved box", func(d *canvasDoc) bool { return d.Bbox.X == 64 })
	old = waitTimeoutOverride(3 * time.Minute)
	p.click("Invoke", `[data-testid="canvas-screen"]`)
	p.waitFor("the outpaint candidate", `document.querySelector('[data-testid="staging-area"]')`)
	waitTimeoutOverride(old)
	if mode := js[string](p, `document.querySelector('[data-testid="canvas-mode"]').innerText`); !strings.Contains(mode, "outpaint") {
		t.Fatalf("mode shown %q, want outpaint", mode)
	}
	p.screenshot("canvas-outpaint-1280")
	d = waitDoc(t, env, "the outpaint candidate", func(d *canvasDoc) bool { return len(d.Staging) == 1 })
	out := fetchPNG(t, env, d.Staging[0].ImageName)
	for y := 0; y < 128; y++ {
		for x := 64; x < 128; x++ {
			if a := px(out, x, y).A; a != 255 {
				t.Fatalf("outpaint left (%d,%d) transparent (alpha %d)", x, y, a)
			}
		}
	}
	p.click("Discard")
	p.waitFor("the staging area to close", `!document.querySelector('[data-testid="staging-area"]')`)

	// Two regional prompts over an empty part of the document.
	p.fill("Box X", "400")
	for i, prompt := range []string{"a cat", "a dog"} {
		p.click("Add Regional Guidance")
		name := fmt.Sprintf("Regional Guidance %d", i+1)
		p.waitFor("the region layer", fmt.Sprintf(`document.querySelector('[data-testid="layer-item"][data-layer-name=%s]')`, q(name)))
		p.fill("Region Prompt", prompt)
		p.fill("Size", "48")
		x0 := 400.0 + 24 + float64(i)*64
		p.stroke([2]float64{x0, 16}, [2]float64{x0, 40}, [2]float64{x0, 64}, [2]float64{x0, 88}, [2]float64{x0, 112})
	}
	waitDoc(t, env, "two painted regions", func(d *canvasDoc) bool {
		n := 0
		for _, l := range d.Layers {
			if l.Kind == "regional_guidance" && len(l.Objects) == 1 {
				n++
			}
		}
		return n == 2 && d.Bbox.X == 400
	})
	old = waitTimeoutOverride(3 * time.Minute)
	p.click("Invoke", `[data-testid="canvas-screen"]`)
	p.waitFor("the regional candidate", `document.querySelector('[data-testid="staging-area"]')`)
	waitTimeoutOverride(old)
	var items []struct {
		ItemID int `json:"item_id"`
	}
	env.Do("GET", "/api/v1/queue/default/list_all").Expect(http.StatusOK).Decode(&items)
	var last struct {
		Session struct {
			Graph struct {
				Nodes map[string]map[string]any `json:"nodes"`
			} `json:"graph"`
		} `json:"session"`
	}
	maxID := 0
	for _, it := range items {
		maxID = max(maxID, it.ItemID)
	}
	env.Do("GET", "/api/v1/queue/default/i/"+strconv.Itoa(maxID)).Expect(http.StatusOK).Decode(&last)
	prompts := map[string]bool{}
	masks := 0
	for _, n := range last.Session.Graph.Nodes {
		if n["type"] == "compel" && strings.HasPrefix(fmt.Sprint(n["id"]), "region_positive_cond_") {
			prompts[fmt.Sprint(n["prompt"])] = true
		}
		if n["type"] == "alpha_mask_to_tensor" {
			masks++
		}
	}
	if !prompts["a cat"] || !prompts["a dog"] || masks != 2 {
		t.Errorf("regional graph: prompts %v, %d masks", prompts, masks)
	}
	p.screenshot("canvas-regions-1280")
	p.click("Accept")
	before := waitDoc(t, env, "the accepted regional result", func(d *canvasDoc) bool { return len(d.Staging) == 0 && d.layer("Raster Layer 3") >= 0 })

	// Reload: the same document.
	p.reload()
	p.waitFor("the canvas after reload", `document.querySelector('[data-testid="canvas-stage"] canvas')`)
	names := js[[]string](p, `Array.from(document.querySelectorAll('[data-testid="layer-item"]')).map((e) => e.dataset.layerName)`)
	var want []string
	for _, l := range before.Layers {
		want = append(want, l.Name)
	}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("after reload the layers are %v, want %v", names, want)
	}
	if v := p.value("Box X"); v != "400" {
		t.Errorf("after reload Box X = %s, want 400", v)
	}
	if imageLayer == "" || before.layer(imageLayer) < 0 {
		t.Errorf("the image layer %q is gone", imageLayer)
	}
	p.screenshot("canvas-reloaded-1280")

	// Restart the server on the same root: the canvas is still there, its image layers drawn.
	env.Close()
	cfg := config.Default()
	cfg.Root = env.Root
	cfg.Precision = "float32"
	env2 := apitest.Start(t, cfg)
	p2 := b.newPage("restarted", env2.URL)
	p2.open("/canvas")
	p2.waitFor("the canvas after a restart", `document.querySelectorAll('[data-testid="layer-item"]').length > 0`)
	if names := js[[]string](p2, `Array.from(document.querySelectorAll('[data-testid="layer-item"]')).map((e) => e.dataset.layerName)`); strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("after a restart the layers are %v, want %v", names, want)
	}
	p2.waitFor("the image drawn after a restart", `(() => { const q = window.__invokegoCanvas.docToClient(10, 10); const r = document.querySelector('[data-testid="canvas-stage"]').getBoundingClientRect(); return Array.from(document.querySelectorAll('[data-testid="canvas-stage"] canvas')).some((c) => { const x = c.getContext('2d'); const d = x && x.getImageData((q.x - r.left) * devicePixelRatio, (q.y - r.top) * devicePixelRatio, 1, 1).data; return d && d[3] > 0; }); })()`)
	p2.screenshot("canvas-restarted-1280")
}

// socketRecorder keeps every WebSocket message a page receives in window.__socketMessages.
const socketRecorder = `(() => {
	window.__socketMessages = [];
	const WS = window.WebSocket;
	window.WebSocket = function (...a) {
		const ws = new WS(...a);
		ws.addEventListener('message', (e) => { if (typeof e.data === 'string') window.__socketMessages.push(e.data); });
		return ws;
	};
	window.WebSocket.prototype = WS.prototype;
	Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
})()`

// recordSockets installs socketRecorder in every document the page loads from now on.
func (p *page) recordSockets() {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: socketRecorder})
		return err
	}))
}

// Multi-user: one user's canvas (document, uploads, staged results) is invisible to another.
func TestE2ECanvasMultiUser(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t, apitest.Multiuser())
	users := env.Cast()
	adminTok := env.Login(users.Admin.Email, users.Admin.Password)
	installTiny(t, env, apitest.Token(adminTok))
	ownerTok := env.Login(users.Owner.Email, users.Owner.Password)
	otherTok := env.Login(users.Other.Email, users.Other.Password)

	// The other user is signed in with the canvas open while the owner works; their page records every message
	// its sockets receive.
	other := b.newPage("other", env.URL)
	other.recordSockets()
	loginUI(other, users.Other, false)
	other.click("Canvas")
	other.waitFor("the other user's canvas", `document.querySelector('[data-testid="canvas-stage"] canvas')`)
	other.waitFor("the other user's socket", `window.__socketMessages && window.__socketMessages.some((m) => m.startsWith('0'))`)

	owner := b.newPage("owner", env.URL)
	owner.recordSockets()
	loginUI(owner, users.Owner, false)
	owner.click("Canvas")
	owner.waitFor("the canvas", `document.querySelector('[data-testid="canvas-stage"] canvas')`)
	owner.selectLayer("Raster Layer 1")
	owner.click("Rectangle")
	owner.stroke([2]float64{8, 8}, [2]float64{40, 40}, [2]float64{120, 120})
	owner.fill("Box Width", "128")
	owner.fill("Box Height", "128")
	owner.fill("Prompt", "owner's secret barn", `[data-testid="canvas-screen"]`)
	owner.fill("Steps", "2", `[data-testid="canvas-screen"]`)
	waitDoc(t, env, "the owner's rectangle", func(d *canvasDoc) bool {
		i := d.layer("Raster Layer 1")
		return i >= 0 && len(d.Layers[i].Objects) == 1 && d.Bbox.Height == 128
	}, apitest.Token(ownerTok))
	old := waitTimeoutOverride(3 * time.Minute)
	owner.click("Invoke", `[data-testid="canvas-screen"]`)
	owner.waitFor("the owner's candidate", `document.querySelector('[data-testid="staging-area"]')`)
	waitTimeoutOverride(old)
	d := waitDoc(t, env, "the staged candidate", func(d *canvasDoc) bool { return len(d.Staging) == 1 }, apitest.Token(ownerTok))
	staged := d.Staging[0].ImageName

	other.screenshot("canvas-other-user-1280")
	// The recorder works: the owner's own socket carried the staged result.
	if own := js[[]string](owner, `window.__socketMessages`); !strings.Contains(strings.Join(own, "\n"), staged) {
		t.Fatalf("the owner's socket did not carry the staged image %s (%d messages): the recorder sees nothing", staged, len(own))
	}
	msgs := js[[]string](other, `window.__socketMessages`)
	for _, m := range msgs {
		for _, secret := range []string{"secret barn", staged, "canvas_output"} {
			if strings.Contains(m, secret) {
				t.Errorf("the other user's socket received %q: %.300s", secret, m)
			}
		}
	}
	t.Logf("the other user's socket received %d messages, none about the owner's canvas", len(msgs))
	other.reload()
	other.waitFor("the other user's canvas after reload", `document.querySelector('[data-testid="canvas-stage"] canvas')`)
	if other.has(`document.querySelector('[data-testid="staging-area"]')`) {
		t.Error("the other user sees a staging area")
	}
	if v := other.value("Prompt"); strings.Contains(v, "secret") {
		t.Errorf("the other user's canvas prompt is %q", v)
	}
	if doc := storedDoc(t, env, apitest.Token(otherTok)); doc != nil {
		for _, l := range doc.Layers {
			if len(l.Objects) > 0 {
				t.Errorf("the other user's stored canvas has drawn layer %q", l.Name)
			}
		}
	}
	// The owner's staged image and composite are not readable by the other user.
	r := env.Do("GET", "/api/v1/images/i/"+staged, apitest.Token(otherTok))
	if r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
		t.Errorf("the other user reads the owner's staged image: status %d", r.Status)
	}
	// The owner still has their document.
	if doc := storedDoc(t, env, apitest.Token(ownerTok)); doc == nil || len(doc.Staging) != 1 {
		t.Error("the owner's canvas changed")
	}
}

// Figures for the report (no timing assertions): the largest gap between animation frames while a stroke is
// drawn over a 2048×2048 image, and the time to encode and upload the composite of a 1024×1024 box.
func TestE2ECanvasPerformance(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	installTiny(t, env)
	_, up := uploadAPI(t, env, "", "", patternPNG(t, 2048, 2048))
	src := up["image_name"].(string)
	p := b.newPage("perf", env.URL)
	p.open("/gallery")
	p.click("Open image "+src, `section[aria-label="Images"]`)
	p.click("Send to Canvas")
	waitDoc(t, env, "the 2048² layer", func(d *canvasDoc) bool { return d.Bbox.Width == 2048 && len(d.Layers) == 3 })
	p.click("Reset View")
	// Wait for the image to be drawn: the layer canvas is no longer blank at a point inside it.
	p.waitFor("the image on the stage", `(() => { const cs = document.querySelectorAll('[data-testid="canvas-stage"] canvas'); return Array.from(cs).some((c) => { const x = c.getContext('2d'); return x && x.getImageData(200, 200, 1, 1).data[3] > 0; }); })()`)
	p.selectLayer("Raster Layer 1")
	p.click("Brush")
	p.fill("Size", "40")
	js[bool](p, `(() => { window.__frames = []; let last = performance.now(); const f = (t) => { window.__frames.push(t - last); last = t; if (!window.__stopFrames) requestAnimationFrame(f); }; requestAnimationFrame(f); return true; })()`)
	time.Sleep(300 * time.Millisecond)
	// Beside the frame gaps (which the machine's load stretches), the main-thread time of the work itself: Konva's
	// layer redraws and its pointer-move handling (which runs the tool).
	js[bool](p, `(() => {
		window.__frames = []; window.__long = []; window.__draw = []; window.__move = [];
		new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); }).observe({ type: 'longtask' });
		const K = window.Konva;
		const wrap = (proto, name, out) => { const f = proto[name]; proto[name] = function (...a) { const t = performance.now(); const r = f.apply(this, a); window[out].push(performance.now() - t); return r; }; };
		wrap(K.Layer.prototype, 'drawScene', '__draw');
		wrap(K.Stage.prototype, '_pointermove', '__move');
		return true; })()`)
	var pts [][2]float64
	for i := 0; i < 120; i++ {
		pts = append(pts, [2]float64{100 + float64(i)*6, 150 + 100*float64(i%20)/20})
	}
	start := time.Now()
	// Press and move (the drawing), then mark, then release (the stroke joins the document).
	p.strokeSteps(pts, func() { js[bool](p, `(() => { window.__releaseAt = window.__frames.length; return true; })()`) })
	strokeTime := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	frames := js[[]float64](p, `(() => { window.__stopFrames = true; return window.__frames; })()`)
	releaseAt := js[int](p, `window.__releaseAt`)
	long := js[[]float64](p, `window.__long`)
	draws := js[[]float64](p, `window.__draw`)
	moves := js[[]float64](p, `window.__move`)
	if len(frames) == 0 || releaseAt > len(frames) {
		t.Fatalf("%d animation frames recorded, release at %d", len(frames), releaseAt)
	}
	stat := func(fs []float64) (worst, mean float64) {
		for _, f := range fs {
			worst = max(worst, f)
			mean += f
		}
		return worst, mean / float64(max(1, len(fs)))
	}
	dw, dm := stat(frames[:releaseAt])
	rw, _ := stat(frames[releaseAt:])
	over := 0
	for _, f := range frames {
		if f > 50 {
			over++
		}
	}
	lw, _ := stat(long)
	drw, drm := stat(draws)
	mvw, mvm := stat(moves)
	t.Logf("main-thread work while drawing: %d layer redraws, longest %.1f ms (mean %.2f); %d pointer moves handled, longest %.1f ms (mean %.2f)",
		len(draws), drw, drm, len(moves), mvw, mvm)
	t.Logf("stroke of %d points over a 2048x2048 image layer in %v (load average %s): while drawing %d frames, max frame gap %.1f ms, mean %.1f ms; after release (the stroke joins the document) max %.1f ms; %d of %d gaps over 50 ms; main-thread long tasks (>50 ms): %d, longest %.0f ms",
		len(pts), strokeTime.Round(time.Millisecond), loadAvg(), releaseAt, dw, dm, rw, over, len(frames), len(long), lw)
	waitDoc(t, env, "the stroke", func(d *canvasDoc) bool {
		i := d.layer("Raster Layer 1")
		return i >= 0 && len(d.Layers[i].Objects) == 1 && len(d.Layers[i].Objects[0].Points) >= 200
	})

	// Composite upload of a 1024² box (img2img over the image).
	p.fill("Box Width", "1024")
	p.fill("Box Height", "1024")
	p.fill("Steps", "1", `[data-testid="canvas-screen"]`)
	waitDoc(t, env, "the 1024 box", func(d *canvasDoc) bool { return d.Bbox.Width == 1024 && d.Bbox.Height == 1024 })
	p.click("Invoke", `[data-testid="canvas-screen"]`)
	p.waitFor("the composite upload", `window.__invokegoCanvasMetrics && window.__invokegoCanvasMetrics.lastCompositeSize === '1024x1024'`)
	ms := js[float64](p, `window.__invokegoCanvasMetrics.lastCompositeUploadMs`)
	t.Logf("composite of a 1024x1024 box: PNG encoding and upload took %.0f ms", ms)
	p.screenshot("canvas-2048-stroke-1280")
	env.Do("PUT", "/api/v1/queue/default/clear").Expect(http.StatusOK)
}

// installFixtureModel installs a model from the repository's testdata with an optional name override.
func installFixtureModel(t *testing.T, env *apitest.Env, body map[string]any, elem ...string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(append([]string{filepath.Dir(file), "..", "..", "testdata"}, elem...)...)
	var job struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.JSON(body)).Expect(http.StatusCreated).Decode(&job)
	deadline := time.Now().Add(3 * time.Minute)
	for job.Status != "completed" {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("installing %s: status %q, error %q", src, job.Status, job.Error)
		}
		time.Sleep(200 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}
}

// lastGraph returns the node types of the newest queue item's graph, by node id.
func lastGraph(t *testing.T, env *apitest.Env) map[string]map[string]any {
	t.Helper()
	var items []struct {
		ItemID int `json:"item_id"`
	}
	env.Do("GET", "/api/v1/queue/default/list_all").Expect(http.StatusOK).Decode(&items)
	maxID := 0
	for _, it := range items {
		maxID = max(maxID, it.ItemID)
	}
	var item struct {
		Session struct {
			Graph struct {
				Nodes map[string]map[string]any `json:"nodes"`
			} `json:"graph"`
		} `json:"session"`
	}
	env.Do("GET", "/api/v1/queue/default/i/"+strconv.Itoa(maxID)).Expect(http.StatusOK).Decode(&item)
	return item.Session.Graph.Nodes
}

func countType(nodes map[string]map[string]any, typ string) int {
	n := 0
	for _, v := range nodes {
		if v["type"] == typ {
			n++
		}
	}
	return n
}

// Layer operations, undo/redo, a filter previewed and applied as a new layer, a control layer (ControlNet) and a
// reference image (IP-Adapter) in a generation, saving the canvas to the gallery.
func TestE2ECanvasLayersFiltersAdapters(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	installTiny(t, env)
	installFixtureModel(t, env, map[string]any{}, "sd-ext", "controlnet", "models", "sd15-controlnet")
	installFixtureModel(t, env, map[string]any{}, "sd-ext", "ip_adapter", "models", "ip-adapter_sd15-tiny.safetensors")
	installFixtureModel(t, env, map[string]any{"name": "ip_adapter_sd_image_encoder"}, "sd-ext", "ip_adapter", "models", "image_encoder")
	_, up := uploadAPI(t, env, "", "", patternPNG(t, 64, 64))
	src := up["image_name"].(string)

	p := b.newPage("layers", env.URL)
	p.open("/gallery")
	p.click("Open image "+src, `section[aria-label="Images"]`)
	p.click("Send to Canvas")
	waitDoc(t, env, "the image layer", func(d *canvasDoc) bool { return d.Bbox.Width == 64 && len(d.Layers) == 3 })

	// Layer operations and undo / redo.
	p.click("Add Raster Layer")
	p.waitFor("Raster Layer 3", `document.querySelector('[data-layer-name="Raster Layer 3"]')`)
	p.click("Move Raster Layer 3 down")
	p.click("Hide Raster Layer 3")
	p.click("Lock Raster Layer 3")
	d := waitDoc(t, env, "the reordered layer", func(d *canvasDoc) bool { return len(d.Layers) == 4 && d.Layers[1].Name == "Raster Layer 3" })
	_ = d
	p.click("Undo")
	p.click("Undo")
	p.click("Undo")
	waitDoc(t, env, "three undos", func(d *canvasDoc) bool { return len(d.Layers) == 4 && d.Layers[0].Name == "Raster Layer 3" })
	p.click("Redo")
	waitDoc(t, env, "a redo", func(d *canvasDoc) bool { return d.Layers[1].Name == "Raster Layer 3" })
	p.click("Delete Raster Layer 3")
	waitDoc(t, env, "the deleted layer", func(d *canvasDoc) bool { return len(d.Layers) == 3 && d.layer("Raster Layer 3") < 0 })

	// A filter on the image layer: preview, then apply as a new layer.
	p.selectLayer("Raster Layer 2")
	p.selectOption("Filter", "Canny Edges")
	p.click("Preview Filter")
	p.click("Apply Filter")
	d = waitDoc(t, env, "the filtered layer", func(d *canvasDoc) bool { return d.layer("Canny Edges layer") >= 0 })
	filtered := d.Layers[d.layer("Canny Edges layer")].Objects[0].ImageName
	if filtered == "" || filtered == src {
		t.Fatalf("the filter layer holds %q", filtered)
	}
	fimg := fetchPNG(t, env, filtered)
	if fimg.Bounds().Dx() != 64 {
		t.Errorf("filtered image is %v", fimg.Bounds())
	}
	p.screenshot("canvas-filter-1280")
	p.click("Delete Canny Edges layer")

	// A pen stroke keeps its pressure per point (mouse strokes have none).
	p.selectLayer("Raster Layer 1")
	p.click("Brush")
	var pen []chromedp.Action[chromedp.Void]
	for i, f := range []float64{0.2, 0.4, 0.6, 0.8, 1} {
		x, y := p.docToClient(100+float64(i)*10, 100)
		typ := chromedp.MouseMoved
		if i == 0 {
			typ = chromedp.MousePressed
		}
		pen = append(pen, chromedp.MouseEvent(typ, x, y, chromedp.ButtonLeft, func(q *input.DispatchMouseEventParams) {
			q.Buttons, q.ClickCount, q.Force, q.PointerType = 1, 1, f, input.DispatchMouseEventPointerTypePen
		}))
	}
	ex, ey := p.docToClient(140, 100)
	pen = append(pen, chromedp.MouseEvent(chromedp.MouseReleased, ex, ey, chromedp.ButtonLeft, func(q *input.DispatchMouseEventParams) {
		q.ClickCount, q.PointerType = 1, input.DispatchMouseEventPointerTypePen
	}))
	p.do(pen...)
	d = waitDoc(t, env, "the pen stroke", func(d *canvasDoc) bool {
		i := d.layer("Raster Layer 1")
		return i >= 0 && len(d.Layers[i].Objects) == 1
	})
	if pr := d.Layers[d.layer("Raster Layer 1")].Objects[0].Pressure; len(pr) != 5 || pr[0] >= pr[4] {
		t.Errorf("pen stroke pressure %v, want 5 rising values", pr)
	}
	p.click("Undo")

	// Transform: drag the image layer's bottom-right handle from (64, 64) to (128, 128): twice the size; the box
	// then fits to it.
	p.selectLayer("Raster Layer 2")
	p.click("Transform")
	p.waitFor("the transform handles", `(() => { const tr = window.Konva.stages[0].find('Transformer').find((t) => t.nodes().length); return !!tr; })()`)
	ax, ay := p.docToClient(64, 64)
	bx, by := p.docToClient(128, 128)
	p.do(chromedp.MouseEvent(chromedp.MousePressed, ax, ay, chromedp.ButtonLeft, func(q *input.DispatchMouseEventParams) { q.Buttons = 1; q.ClickCount = 1 }),
		chromedp.MouseEvent(chromedp.MouseMoved, (ax+bx)/2, (ay+by)/2, chromedp.ButtonLeft, func(q *input.DispatchMouseEventParams) { q.Buttons = 1 }),
		chromedp.MouseEvent(chromedp.MouseMoved, bx, by, chromedp.ButtonLeft, func(q *input.DispatchMouseEventParams) { q.Buttons = 1 }),
		chromedp.MouseEvent(chromedp.MouseReleased, bx, by, chromedp.ButtonLeft, func(q *input.DispatchMouseEventParams) { q.ClickCount = 1 }))
	waitDoc(t, env, "the scaled layer", func(d *canvasDoc) bool {
		i := d.layer("Raster Layer 2")
		return i >= 0 && d.Layers[i].ScaleX != nil && *d.Layers[i].ScaleX > 1.9 && *d.Layers[i].ScaleX < 2.1
	})
	p.click("Fit to Layers")
	waitDoc(t, env, "the box fitted to the scaled layer", func(d *canvasDoc) bool { return d.Bbox.Width == 128 && d.Bbox.Height == 128 })
	p.screenshot("canvas-transform-1280")
	p.click("Undo")
	p.click("Undo")
	waitDoc(t, env, "the transform undone", func(d *canvasDoc) bool {
		i := d.layer("Raster Layer 2")
		return i >= 0 && (d.Layers[i].ScaleX == nil || *d.Layers[i].ScaleX == 1) && d.Bbox.Width == 64
	})

	// A control layer with a sketch, and a reference image; the box over empty space.
	p.fill("Box X", "200")
	p.click("Add Control Layer")
	p.waitFor("the control layer", `document.querySelector('[data-layer-name="Control Layer 1"]')`)
	p.selectOption("Control Model", "sd15-controlnet")
	p.click("Rectangle")
	p.stroke([2]float64{216, 16}, [2]float64{248, 48})
	p.upload(`input[aria-label="Reference image file"]`, patternPNG(t, 224, 224))
	p.waitFor("the reference image", `document.querySelector('[data-testid="reference-image"]')`)
	p.selectOption("IP-Adapter model", "ip-adapter")
	// A regional guidance layer whose only guidance is a reference image (a masked IP-Adapter), over the left
	// half of the box.
	p.click("Add Regional Guidance")
	p.waitFor("the region layer", `document.querySelector('[data-layer-name="Regional Guidance 1"]')`)
	p.upload(`input[aria-label="Region reference image file"]`, patternPNG(t, 224, 224))
	p.waitFor("the region's reference image", `document.querySelector('[data-testid="region-reference-image"]')`)
	p.selectOption("Region IP-Adapter model", "ip-adapter")
	p.stroke([2]float64{200, 0}, [2]float64{232, 64})
	waitDoc(t, env, "the painted region", func(d *canvasDoc) bool {
		i := d.layer("Regional Guidance 1")
		return i >= 0 && len(d.Layers[i].Objects) == 1
	})
	p.fill("Steps", "2", `[data-testid="canvas-screen"]`)
	p.fill("Iterations", "2")
	waitDoc(t, env, "the control sketch", func(d *canvasDoc) bool {
		i := d.layer("Control Layer 1")
		return i >= 0 && len(d.Layers[i].Objects) == 1 && d.Bbox.X == 200
	})
	old := waitTimeoutOverride(3 * time.Minute)
	p.click("Invoke", `[data-testid="canvas-screen"]`)
	p.waitText("Staging 1 / 2")
	waitTimeoutOverride(old)
	nodes := lastGraph(t, env)
	if countType(nodes, "controlnet") != 1 || countType(nodes, "ip_adapter") != 2 || countType(nodes, "alpha_mask_to_tensor") != 1 {
		t.Errorf("graph has %d controlnet, %d ip_adapter and %d alpha_mask_to_tensor nodes, want 1, 2 (global and regional) and 1",
			countType(nodes, "controlnet"), countType(nodes, "ip_adapter"), countType(nodes, "alpha_mask_to_tensor"))
	}
	p.screenshot("canvas-control-1280")

	// Save the staged candidate and the canvas to the gallery.
	d = waitDoc(t, env, "the two candidates", func(d *canvasDoc) bool {
		return len(d.Staging) == 2 && d.Staging[0].ImageName != d.Staging[1].ImageName
	})
	p.click("Next")
	p.waitText("Staging 2 / 2")
	p.click("Previous")
	p.click("Save to Gallery")
	p.waitText("Saved to the gallery")
	var dto struct {
		IsIntermediate bool `json:"is_intermediate"`
	}
	env.Do("GET", "/api/v1/images/i/"+d.Staging[0].ImageName).Expect(http.StatusOK).Decode(&dto)
	if dto.IsIntermediate {
		t.Error("the saved candidate is still intermediate")
	}
	p.click("Discard All")

	// Send to Gallery: the next result skips the staging area and lands in the gallery.
	galleryTotal := func() int {
		var page struct {
			Total int `json:"total"`
		}
		env.Do("GET", "/api/v1/images/?limit=1&is_intermediate=false").Expect(http.StatusOK).Decode(&page)
		return page.Total
	}
	p.fill("Iterations", "1")
	before := galleryTotal()
	p.check("Send to Gallery", true)
	p.click("Invoke", `[data-testid="canvas-screen"]`)
	old = waitTimeoutOverride(3 * time.Minute)
	deadline := time.Now().Add(3 * time.Minute)
	for galleryTotal() != before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("the gallery holds %d images, want %d", galleryTotal(), before+1)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitTimeoutOverride(old)
	if p.has(`document.querySelector('[data-testid="staging-area"]')`) {
		t.Error("a result sent to the gallery was staged")
	}
	p.check("Send to Gallery", false)

	p.fill("Box X", "0")
	p.click("Save Canvas to Gallery")
	p.waitText("Canvas saved to the gallery")
}
