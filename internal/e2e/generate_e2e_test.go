package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
)

// tinyModelPath is the SD1.5-shaped random-weight fixture in the repository's testdata (or $INVOKEGO_SD_TINY).
func tinyModelPath() string {
	if p := os.Getenv("INVOKEGO_SD_TINY"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "sd-tiny", "models", "sd15-tiny-pipe")
}

// hasInvocation reports whether the server registers a node type (by its schema in /openapi.json).
func hasInvocation(t *testing.T, env *apitest.Env, typ string) bool {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Class      string `json:"class"`
				Properties struct {
					Type struct {
						Const   string `json:"const"`
						Default string `json:"default"`
					} `json:"type"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	r := env.Do("GET", "/openapi.json").Expect(http.StatusOK)
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	for _, s := range doc.Components.Schemas {
		if s.Class == "invocation" && (s.Properties.Type.Const == typ || s.Properties.Type.Default == typ) {
			return true
		}
	}
	return false
}

// Text to image on the tiny fixture model: progress is shown and the image lands in the gallery; Recall fills the form.
func TestE2ETextToImage(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	for _, typ := range []string{"main_model_loader", "compel", "noise", "denoise_latents", "l2i"} {
		if !hasInvocation(t, env, typ) {
			t.Skipf("the diffusion engine is not wired yet: node type %q is not registered in /openapi.json, so text-to-image cannot run", typ)
		}
	}
	model := tinyModelPath()
	if _, err := os.Stat(model); err != nil {
		t.Fatalf("fixture model missing: %v (set INVOKEGO_SD_TINY)", err)
	}
	abs, _ := filepath.Abs(model)

	var job struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(abs), apitest.JSON(map[string]any{})).Expect(http.StatusCreated).Decode(&job)
	deadline := time.Now().Add(3 * time.Minute)
	for job.Status != "completed" {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("installing the fixture model: status %q, error %q", job.Status, job.Error)
		}
		time.Sleep(300 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}

	var bd struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=Renders").Expect(http.StatusCreated).Decode(&bd)

	p := b.newPage("single", env.URL)
	p.open("/generate")
	p.waitFor("the Invoke button", `document.querySelector('[data-testid="invoke-button"]')`)
	p.fill("Prompt", "a tiny red fox")
	p.fill("Negative Prompt", "blurry")
	p.fill("Width", "64")
	p.fill("Height", "64")
	p.fill("Steps", "4")
	p.fill("CFG Scale", "5")
	p.selectOption("Scheduler", "Euler")
	p.check("Random Seed", false)
	p.fill("Seed", "1234")
	p.selectOption("Board", "Renders")
	p.screenshot("generate-1280")
	js[bool](p, `(() => { window.__sawProgress = false; new MutationObserver(() => {
		if (document.querySelector('[data-testid="progress"]')) window.__sawProgress = true; }).observe(document.body, {childList: true, subtree: true}); return true; })()`)
	p.click("Invoke")
	p.waitFor("the progress view", `window.__sawProgress`)
	old := waitTimeoutOverride(5 * time.Minute)
	p.waitFor("the finished image", `document.querySelector('[data-testid="latest-image"]')`)
	waitTimeoutOverride(old)
	p.screenshot("generate-result-1280")
	p.viewport(400, 800)
	p.screenshot("generate-narrow")
	p.viewport(1280, 800)

	var onBoard []string
	env.Do("GET", "/api/v1/boards/"+bd.BoardID+"/image_names").Expect(http.StatusOK).Decode(&onBoard)
	if len(onBoard) != 1 {
		t.Fatalf("the Renders board holds %d images, want 1", len(onBoard))
	}
	p.click("Gallery")
	p.click("Renders", boardSel("Renders"))
	p.waitFor("the image in the gallery", `document.querySelectorAll('[data-testid="image-item"]').length === 1`)
	name := js[string](p, `document.querySelector('[data-testid="image-item"]').dataset.imageName`)
	p.click("Open image "+name, `section[aria-label="Images"]`)
	p.waitFor("the metadata", `document.querySelector('[data-testid="image-metadata"]')?.innerText.includes('a tiny red fox')`)
	// Recall everything into a changed form.
	p.click("Generate")
	p.fill("Prompt", "something else")
	p.fill("Steps", "9")
	p.click("Gallery")
	p.click("Renders", boardSel("Renders"))
	p.click("Open image "+name, `section[aria-label="Images"]`)
	p.waitFor("the metadata", `document.querySelector('[data-testid="image-metadata"]')?.innerText.includes('a tiny red fox')`)
	p.click("Recall All")
	p.waitFor("the generate screen", `document.querySelector('[data-testid="invoke-button"]')`)
	for label, want := range map[string]string{"Prompt": "a tiny red fox", "Seed": "1234", "Width": "64", "Height": "64", "Steps": "4"} {
		if got := p.value(label); got != want {
			t.Errorf("after Recall All, %s = %q, want %q", label, got, want)
		}
	}

	// Image to image from the gallery image.
	if !hasInvocation(t, env, "i2l") {
		t.Log("i2l is not registered: image-to-image not exercised")
		return
	}
	p.click("Gallery")
	p.click("Renders", boardSel("Renders"))
	p.click("Open image "+name, `section[aria-label="Images"]`)
	p.click("Use as Initial Image")
	p.waitFor("the initial image on the form", `document.querySelector('[data-testid="init-image"]')`)
	p.fill("Denoising Strength", "0.5")
	p.click("Invoke")
	old = waitTimeoutOverride(5 * time.Minute)
	p.click("Gallery")
	p.click("Renders", boardSel("Renders"))
	p.waitFor("the image-to-image result", `document.querySelectorAll('[data-testid="image-item"]').length === 2`)
	waitTimeoutOverride(old)
	var md map[string]any
	var names []string
	env.Do("GET", "/api/v1/boards/"+bd.BoardID+"/image_names").Expect(http.StatusOK).Decode(&names)
	for _, n := range names {
		if n != name {
			env.Do("GET", "/api/v1/images/i/"+n+"/metadata").Expect(http.StatusOK).Decode(&md)
		}
	}
	if md["generation_mode"] != "img2img" || md["init_image"] != name {
		t.Errorf("image-to-image metadata = %v", md)
	}
}
