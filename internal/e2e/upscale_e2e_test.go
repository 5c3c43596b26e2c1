package e2e

import (
	"bytes"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
)

// installFixture installs a model from testdata through the model manager API.
func installFixture(t *testing.T, env *apitest.Env, rel ...string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src, _ := filepath.Abs(filepath.Join(append([]string{filepath.Dir(file), "..", "..", "testdata"}, rel...)...))
	var job struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.JSON(map[string]any{})).Expect(http.StatusCreated).Decode(&job)
	for deadline := time.Now().Add(2 * time.Minute); job.Status != "completed"; {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("installing %s: %q %q", src, job.Status, job.Error)
		}
		time.Sleep(200 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}
}

// boardImageSize is the size of the one image a board holds.
func boardImageSize(t *testing.T, env *apitest.Env, boardID string) (int, int) {
	t.Helper()
	var onBoard []string
	env.Do("GET", "/api/v1/boards/"+boardID+"/image_names").Expect(http.StatusOK).Decode(&onBoard)
	if len(onBoard) != 1 {
		t.Fatalf("the board holds %d images, want 1", len(onBoard))
	}
	img, err := png.Decode(bytes.NewReader(env.Do("GET", "/api/v1/images/i/"+onBoard[0]+"/full").Expect(http.StatusOK).Body))
	if err != nil {
		t.Fatal(err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// The Upscale screen: the tiny ×2 ESRGAN installed, an image uploaded through the screen, 2× chosen and a
// board picked; the run shows its progress and the 192×128 result lands in that board.
func TestE2EUpscaleScreen(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	if !hasInvocation(t, env, "spandrel_image_to_image_autoscale") {
		t.Fatal("spandrel_image_to_image_autoscale is not registered")
	}
	installFixture(t, env, "sd-ext", "esrgan", "models", "rrdb-x2-unshuffle-new.safetensors")
	var bd struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=Big").Expect(http.StatusCreated).Decode(&bd)

	p := b.newPage("upscale", env.URL)
	p.open("/generate")
	p.click("Upscale", `nav[aria-label="Main"]`)
	p.waitFor("the Upscale button", `document.querySelector('[data-testid="upscale-button"]')`)
	p.upload(`input[aria-label="Upload image to upscale"]`, writePNG(t, "small.png", color.RGBA{R: 200, G: 40, B: 90, A: 255}))
	p.waitFor("the chosen image", `document.querySelector('[data-testid="upscale-source"]')`)
	p.selectOption("Upscaling Model", "rrdb-x2")
	p.check("2×", true)
	p.waitFor("the output size", `document.querySelector('[data-testid="upscale-output-size"]')?.innerText.includes('192×128')`)
	p.selectOption("Board", "Big")
	p.screenshot("upscale-1280")
	js[bool](p, `(() => { window.__sawProgress = false; new MutationObserver(() => {
		if (document.querySelector('[data-testid="upscale-progress"]')) window.__sawProgress = true; }).observe(document.body, {childList: true, subtree: true}); return true; })()`)
	p.click("Upscale", `form[aria-label="Upscale parameters"]`)
	old := waitTimeoutOverride(3 * time.Minute)
	p.waitFor("the result", `document.querySelector('[data-testid="upscale-result"]')`)
	waitTimeoutOverride(old)
	if !js[bool](p, `window.__sawProgress`) {
		t.Error("no progress was shown")
	}
	p.screenshot("upscale-result-1280")

	if w, h := boardImageSize(t, env, bd.BoardID); w != 192 || h != 128 {
		t.Errorf("the upscaled image is %dx%d, want 192×128", w, h)
	}
}

// The creative upscale through the screen: the tiny ×2 ESRGAN, the tiny SD-1 model and the tiny ControlNet
// (standing in for a tile ControlNet) installed; "Add detail" picks them; 3 steps; the 2× result of the tiled
// diffusion pass lands in the board.
func TestE2EUpscaleScreenCreative(t *testing.T) {
	b := newBrowser(t)
	env := apitest.New(t)
	installFixture(t, env, "sd-ext", "esrgan", "models", "rrdb-x2-unshuffle-new.safetensors")
	installFixture(t, env, "sd-tiny", "models", "sd15-tiny-pipe")
	installFixture(t, env, "sd-ext", "controlnet", "models", "sd15-controlnet")
	var bd struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=Detailed").Expect(http.StatusCreated).Decode(&bd)

	p := b.newPage("upscale-creative", env.URL)
	p.open("/upscale")
	p.waitFor("the Upscale button", `document.querySelector('[data-testid="upscale-button"]')`)
	p.upload(`input[aria-label="Upload image to upscale"]`, writePNG(t, "small.png", color.RGBA{R: 30, G: 160, B: 90, A: 255}))
	p.waitFor("the chosen image", `document.querySelector('[data-testid="upscale-source"]')`)
	p.check("2×", true)
	p.selectOption("Board", "Detailed")
	p.check("Add detail (creative upscale)", true)
	p.selectOption("Main Model", "sd15-tiny-pipe")
	p.selectOption("Tile ControlNet", "sd15-controlnet")
	p.fill("Prompt", "a sharp photo")
	p.fill("Steps", "3")
	p.selectOption("Tile Size", "512")
	p.screenshot("upscale-creative-1280")
	p.click("Upscale", `form[aria-label="Upscale parameters"]`)
	old := waitTimeoutOverride(4 * time.Minute)
	p.waitFor("the result", `document.querySelector('[data-testid="upscale-result"]')`)
	waitTimeoutOverride(old)
	if w, h := boardImageSize(t, env, bd.BoardID); w != 192 || h != 128 {
		t.Errorf("the creative upscale is %dx%d, want 192×128", w, h)
	}
}
