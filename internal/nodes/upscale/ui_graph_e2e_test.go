package upscale_test

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

// installAny installs a model (file or folder) through the model manager and returns its identifier.
func installAny(t *testing.T, env *apitest.Env, rel ...string) map[string]any {
	t.Helper()
	src := mustPath(t, rel...)
	var job struct {
		ID        int            `json:"id"`
		Status    string         `json:"status"`
		Error     string         `json:"error"`
		ConfigOut map[string]any `json:"config_out"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.JSON(map[string]any{})).Expect(http.StatusCreated).Decode(&job)
	for deadline := time.Now().Add(2 * time.Minute); job.Status != "completed"; {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("install %s: %s %s", src, job.Status, job.Error)
		}
		time.Sleep(50 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID)).Expect(http.StatusOK).Decode(&job)
	}
	c := job.ConfigOut
	return map[string]any{"key": c["key"], "hash": c["hash"], "name": c["name"], "base": c["base"], "type": c["type"]}
}

// The Upscale screen's creative graph (web/src/screens/UpscaleGraph.expected/creative-sd1.json, which the
// UI's builder must produce exactly) runs through the queue on the tiny models: the ×4 ESRGAN, the tiny
// SD-1 model and the tiny ControlNet standing in for a tile ControlNet. The result is the upscaled size and
// lands in the board; the graph's only saved image is the final one.
func TestE2EUpscaleScreenCreativeGraph(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "web", "src", "screens", "UpscaleGraph.expected", "creative-sd1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var graph map[string]any
	if err := json.Unmarshal(raw, &graph); err != nil {
		t.Fatal(err)
	}
	env := apitest.New(t)
	esrgan := install(t, env, "sd-ext", "esrgan", "models", "rrdb-x4-new.safetensors")
	main := installAny(t, env, "sd-tiny", "models", "sd15-tiny-pipe")
	cn := installAny(t, env, "sd-ext", "controlnet", "models", "sd15-controlnet")
	var board struct {
		BoardID string `json:"board_id"`
	}
	env.Do("POST", "/api/v1/boards/?board_name=Upscaled").Expect(http.StatusCreated).Decode(&board)
	src := bigImage(48)
	name := env.UploadPNG(src)

	nodes := graph["nodes"].(map[string]any)
	node := func(id string) map[string]any { return nodes[id].(map[string]any) }
	node("upscale")["image"] = map[string]any{"image_name": name}
	node("upscale")["image_to_image_model"] = esrgan
	node("model_loader")["model"] = main
	node("controlnet_1")["control_model"] = cn
	node("controlnet_2")["control_model"] = cn
	node("denoise")["steps"] = 3
	node("l2i")["board"] = map[string]any{"board_id": board.BoardID}
	var res struct {
		ItemIDs []int `json:"item_ids"`
	}
	env.Do("POST", "/api/v1/queue/default/enqueue_batch", apitest.JSON(map[string]any{"batch": map[string]any{"graph": graph, "runs": 1}})).
		Expect(http.StatusOK).Decode(&res)
	img := output(t, env, wait(t, env, res.ItemIDs[0], 3*time.Minute))
	if b := img.Bounds(); b.Dx() != 4*48 || b.Dy() != 4*48 {
		t.Errorf("creative upscale of 48² at ×4: %v", b)
	}
	var onBoard []string
	env.Do("GET", "/api/v1/boards/"+board.BoardID+"/image_names").Expect(http.StatusOK).Decode(&onBoard)
	if len(onBoard) != 1 {
		t.Errorf("the board holds %d images, want the one result", len(onBoard))
	}
}
