package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/apitest"
	"github.com/invokego/invokego/internal/engine/goldens"
)

// browser sends requests the way InvokeAI's web UI does from the page invokego serves: same-origin fetch()
// calls (Origin and Sec-Fetch-Site on the POSTs and PATCHes a browser labels), RTK Query's JSON bodies, the
// redux-remember driver's text/plain bodies, FormData uploads, the Bearer token in multi-user mode and the
// media cookie for <img> tags.
type browser struct {
	t      *testing.T
	env    *apitest.Env
	token  string
	cookie string
}

func (b *browser) opts(method string, extra ...apitest.ReqOpt) []apitest.ReqOpt {
	var out []apitest.ReqOpt
	if b.token != "" {
		out = append(out, apitest.Token(b.token))
	}
	out = append(out, apitest.Header("Sec-Fetch-Site", "same-origin"), apitest.Header("Sec-Fetch-Mode", "cors"))
	if method != "GET" && method != "HEAD" {
		out = append(out, apitest.Header("Origin", b.env.URL))
	}
	return append(out, extra...)
}

func (b *browser) do(method, path string, status int, extra ...apitest.ReqOpt) *apitest.Resp {
	b.t.Helper()
	return b.env.Do(method, path, b.opts(method, extra...)...).Expect(status)
}

// img fetches an image as an <img> tag does: a GET with cookies and no Authorization header.
func (b *browser) img(path string) *apitest.Resp {
	b.t.Helper()
	var opts []apitest.ReqOpt
	if b.cookie != "" {
		opts = append(opts, apitest.Header("Cookie", b.cookie))
	}
	opts = append(opts, apitest.Header("Sec-Fetch-Site", "same-origin"), apitest.Header("Sec-Fetch-Dest", "image"))
	// DTOs carry InvokeAI's relative URLs ("api/v1/..."), which the page at "/" resolves.
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	res := b.env.Do("GET", path, opts...).Expect(http.StatusOK)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "image/") {
		b.t.Fatalf("%s: content type %q", path, ct)
	}
	return res
}

// login is the UI's login form: a JSON body; the answer carries the token and sets the media cookie.
func (b *browser) login(email, password string) {
	b.t.Helper()
	res := b.do("POST", "/api/v1/auth/login", http.StatusOK, apitest.JSON(map[string]any{"email": email, "password": password, "remember_me": false}))
	var body struct {
		Token string `json:"token"`
	}
	res.Decode(&body)
	b.token = body.Token
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		if c.Name == "invokeai_media_token" {
			b.cookie = c.Name + "=" + c.Value
		}
	}
	if b.token == "" || b.cookie == "" {
		b.t.Fatalf("login gave token %q and cookie %q", b.token, b.cookie)
	}
}

// installTiny installs the tiny SD-1.5 fixture through the model manager, as an admin does in the Models tab.
func installTiny(t *testing.T, env *apitest.Env, adminToken string) {
	t.Helper()
	src, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe")
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	env.Do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), apitest.Token(adminToken), apitest.JSON(map[string]any{})).Expect(http.StatusCreated).Decode(&job)
	for deadline := time.Now().Add(2 * time.Minute); job.Status != "completed"; {
		if job.Status == "error" || job.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("install: %s %s", job.Status, job.Error)
		}
		time.Sleep(100 * time.Millisecond)
		env.Do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID), apitest.Token(adminToken)).Expect(http.StatusOK).Decode(&job)
	}
}

// uiSD1Graph is the graph InvokeAI 6.12's generate tab builds for SD-1.5 text-to-image (buildSD1Graph with
// addTextToImage): ids "<kind>:<nanoid>", every node is_intermediate and use_cache unless set, the selected
// model's whole config as main_model_loader.model, positive prompt and seed fed by batch data into string and
// integer nodes, conditionings through collect nodes, and a core_metadata node feeding the output node.
func uiSD1Graph(model map[string]any, negative string, boardID string) (graph map[string]any, seedID, promptID string) {
	id := func(kind string) string { return kind + ":" + strings.Repeat(kind[:1], 10) }
	seedID, promptID = id("seed"), id("positive_prompt")
	loader, clip, pos, posCol, neg, negCol := id("sd1_model_loader"), id("clip_skip"), id("pos_cond"), id("pos_cond_collect"), id("neg_cond"), id("neg_cond_collect")
	noise, denoise, out, meta := id("noise"), id("denoise_latents"), id("canvas_output"), id("core_metadata")
	node := func(m map[string]any) map[string]any {
		if _, ok := m["is_intermediate"]; !ok {
			m["is_intermediate"] = true
		}
		if _, ok := m["use_cache"]; !ok {
			m["use_cache"] = true
		}
		return m
	}
	output := map[string]any{"id": out, "type": "l2i", "fp32": false, "is_intermediate": false, "use_cache": false}
	if boardID != "" {
		output["board"] = map[string]any{"board_id": boardID}
	}
	nodes := map[string]any{
		seedID:   node(map[string]any{"id": seedID, "type": "integer"}),
		promptID: node(map[string]any{"id": promptID, "type": "string"}),
		loader:   node(map[string]any{"id": loader, "type": "main_model_loader", "model": model}),
		clip:     node(map[string]any{"id": clip, "type": "clip_skip", "skipped_layers": 0}),
		pos:      node(map[string]any{"id": pos, "type": "compel"}),
		posCol:   node(map[string]any{"id": posCol, "type": "collect"}),
		neg:      node(map[string]any{"id": neg, "type": "compel", "prompt": negative}),
		negCol:   node(map[string]any{"id": negCol, "type": "collect"}),
		noise:    node(map[string]any{"id": noise, "type": "noise", "use_cpu": true, "width": 64, "height": 64}),
		denoise: node(map[string]any{"id": denoise, "type": "denoise_latents", "cfg_scale": 7.5, "cfg_rescale_multiplier": 0,
			"scheduler": "euler", "steps": 3, "denoising_start": 0, "denoising_end": 1}),
		out: node(output),
		meta: map[string]any{"id": meta, "type": "core_metadata", "cfg_scale": 7.5, "cfg_rescale_multiplier": 0, "negative_prompt": negative,
			"model": map[string]any{"key": model["key"], "hash": model["hash"], "name": model["name"], "base": model["base"], "type": model["type"]},
			"steps": 3, "rand_device": "cpu", "scheduler": "euler", "clip_skip": 0, "generation_mode": "txt2img", "width": 64, "height": 64},
	}
	e := func(from, ff, to, tf string) map[string]any {
		return map[string]any{"source": map[string]any{"node_id": from, "field": ff}, "destination": map[string]any{"node_id": to, "field": tf}}
	}
	edges := []any{
		e(loader, "unet", denoise, "unet"), e(loader, "clip", clip, "clip"), e(clip, "clip", pos, "clip"), e(clip, "clip", neg, "clip"),
		e(promptID, "value", pos, "prompt"), e(pos, "conditioning", posCol, "item"), e(posCol, "collection", denoise, "positive_conditioning"),
		e(neg, "conditioning", negCol, "item"), e(negCol, "collection", denoise, "negative_conditioning"),
		e(seedID, "value", noise, "seed"), e(noise, "noise", denoise, "noise"), e(denoise, "latents", out, "latents"),
		e(seedID, "value", meta, "seed"), e(promptID, "value", meta, "positive_prompt"),
		e(loader, "vae", out, "vae"), e(meta, "metadata", out, "metadata"),
	}
	return map[string]any{"id": id("sd1_graph"), "nodes": nodes, "edges": edges}, seedID, promptID
}

// TestInvokeAIUIFlows replays what InvokeAI 6.12's web UI sends, in single-user mode and as a non-admin in
// multi-user mode: the page-load requests, client state written as text/plain, a dynamic prompt, a style preset
// made, used, edited and removed, and a text-to-image batch in the UI's exact shape, down to the images in the
// gallery.
func TestInvokeAIUIFlows(t *testing.T) {
	for _, multiuser := range []bool{false, true} {
		name := "single-user"
		if multiuser {
			name = "multi-user non-admin"
		}
		t.Run(name, func(t *testing.T) {
			var env *apitest.Env
			b := &browser{t: t}
			adminToken := ""
			if multiuser {
				env = apitest.New(t, apitest.Multiuser())
				b.env = env
				// Before login the UI asks whether setup is needed, and reads the version.
				var st struct {
					SetupRequired    bool `json:"setup_required"`
					MultiuserEnabled bool `json:"multiuser_enabled"`
				}
				b.do("GET", "/api/v1/auth/status", http.StatusOK).Decode(&st)
				if !st.SetupRequired || !st.MultiuserEnabled {
					t.Fatalf("auth status %+v", st)
				}
				cast := env.Cast()
				adminToken = cast.Admin.Token
				b.login(cast.Owner.Email, cast.Owner.Password)
				var me struct {
					IsAdmin bool `json:"is_admin"`
				}
				b.do("GET", "/api/v1/auth/me", http.StatusOK).Decode(&me)
				if me.IsAdmin {
					t.Fatal("the UI user must be a non-admin here")
				}
			} else {
				env = apitest.New(t)
				b.env = env
			}
			installTiny(t, env, adminToken)

			// Page load.
			var version struct {
				Version string `json:"version"`
			}
			b.do("GET", "/api/v1/app/version", http.StatusOK).Decode(&version)
			if version.Version == "" || strings.ContainsAny(version.Version[:1], "v") {
				t.Fatalf("version %q", version.Version)
			}
			b.do("GET", "/api/v1/app/app_deps", http.StatusOK)
			b.do("GET", "/api/v1/app/patchmatch_status", http.StatusOK)
			b.do("GET", "/api/v1/app/runtime_config", http.StatusOK)
			b.do("GET", "/api/v1/app/invocation_cache/status", http.StatusOK)
			b.do("GET", "/openapi.json", http.StatusOK)
			for _, key := range []string{"params", "gallery", "dynamicPrompts", "stylePreset", "ui"} {
				if body := strings.TrimSpace(string(b.do("GET", "/api/v1/client_state/default/get_by_key?key="+key, http.StatusOK).Body)); body != "null" {
					t.Fatalf("fresh client state %s = %s", key, body)
				}
			}
			var models struct {
				Models []map[string]any `json:"models"`
			}
			b.do("GET", "/api/v2/models/", http.StatusOK).Decode(&models)
			var model map[string]any
			for _, m := range models.Models {
				if m["type"] == "main" && m["base"] == "sd-1" {
					model = m
				}
			}
			if model == nil {
				t.Fatalf("no SD-1 main model among %d", len(models.Models))
			}
			var boards []map[string]any
			b.do("GET", "/api/v1/boards/?all=true", http.StatusOK).Decode(&boards)
			namesQuery := "/api/v1/images/names?board_id=none&categories=general&is_intermediate=false&order_dir=DESC&search_term=&starred_first=true"
			b.do("GET", namesQuery, http.StatusOK)
			b.do("GET", "/api/v1/queue/default/status", http.StatusOK)
			b.do("GET", "/api/v1/queue/default/item_ids?order_dir=DESC", http.StatusOK)
			var presets []preset
			b.do("GET", "/api/v1/style_presets/", http.StatusOK).Decode(&presets)
			if len(presets) == 0 {
				t.Fatal("no style presets")
			}

			// The UI persists its slices as it goes: stringified JSON as text/plain, echoed back as a JSON string.
			params := `{"_version":2,"positivePrompt":"a {red|blue} fox","negativePrompt":"","seed":7,"steps":3,"iterations":1}`
			var echoed string
			b.do("POST", "/api/v1/client_state/default/set_by_key?key=params", http.StatusOK,
				apitest.RawBody("text/plain;charset=UTF-8", []byte(params))).Decode(&echoed)
			if echoed != params {
				t.Fatalf("set_by_key echoed %q", echoed)
			}
			var stored *string
			b.do("GET", "/api/v1/client_state/default/get_by_key?key=params", http.StatusOK).Decode(&stored)
			if stored == nil || *stored != params {
				t.Fatalf("client state after reload: %v", stored)
			}

			// A style preset of the user's own, made in the preset form, then applied by the UI to the prompt.
			var made preset
			b.do("POST", "/api/v1/style_presets/", http.StatusOK, presetForm(t,
				map[string]any{"name": "Foxes", "positive_prompt": "{prompt}, in snow", "negative_prompt": "blurry", "type": "user"}, pngBytes(t, 40, 30))).Decode(&made)
			b.do("GET", "/api/v1/style_presets/i/"+made.ID, http.StatusOK)
			if made.Image == nil {
				t.Fatal("the preset has no image")
			}
			b.img(*made.Image) // the preset list shows it as an <img>
			positive := strings.ReplaceAll(made.PresetData.PositivePrompt, "{prompt}", "a {red|blue} fox")

			// Dynamic prompts, as the watcher asks for them.
			var dyn dynResp
			b.do("POST", "/api/v1/utilities/dynamicprompts", http.StatusOK, apitest.JSON(map[string]any{"prompt": positive, "max_prompts": 100})).Decode(&dyn)
			if !slices.Equal(dyn.Prompts, []string{"a red fox, in snow", "a blue fox, in snow"}) || dyn.Error != nil {
				t.Fatalf("dynamic prompts %+v", dyn)
			}

			// A board to generate into (multi-user: the user's own).
			var board struct {
				BoardID string `json:"board_id"`
			}
			b.do("POST", "/api/v1/boards/?board_name=Foxes", http.StatusCreated).Decode(&board)

			// Enqueue as prepareLinearUIBatch does (seed per iteration, prompts zipped).
			graph, seedID, promptID := uiSD1Graph(model, made.PresetData.NegativePrompt, board.BoardID)
			body := map[string]any{"prepend": false, "batch": map[string]any{
				"graph": graph, "runs": 1, "origin": "generate", "destination": "generate",
				"data": []any{
					[]any{map[string]any{"node_path": seedID, "field_name": "value", "items": []int{7}}},
					[]any{map[string]any{"node_path": promptID, "field_name": "value", "items": dyn.Prompts}},
				},
			}}
			var enq struct {
				Enqueued int   `json:"enqueued"`
				ItemIDs  []int `json:"item_ids"`
			}
			b.do("POST", "/api/v1/queue/default/enqueue_batch", http.StatusOK, apitest.JSON(body)).Decode(&enq)
			if enq.Enqueued != 2 || len(enq.ItemIDs) != 2 {
				t.Fatalf("enqueued %+v", enq)
			}
			for _, id := range enq.ItemIDs {
				deadline := time.Now().Add(3 * time.Minute)
				for {
					var it struct {
						Status       string `json:"status"`
						ErrorMessage string `json:"error_message"`
					}
					b.do("GET", "/api/v1/queue/default/i/"+strconv.Itoa(id), http.StatusOK).Decode(&it)
					if it.Status == "completed" {
						break
					}
					if it.Status == "failed" || it.Status == "canceled" || time.Now().After(deadline) {
						t.Fatalf("item %d: %s %s", id, it.Status, it.ErrorMessage)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}

			// The gallery: the board's image names, their DTOs, the images themselves as <img> tags load them.
			var names struct {
				ImageNames []string `json:"image_names"`
				TotalCount int      `json:"total_count"`
			}
			b.do("GET", "/api/v1/images/names?board_id="+board.BoardID+"&categories=general&is_intermediate=false&order_dir=DESC&search_term=&starred_first=true",
				http.StatusOK).Decode(&names)
			if len(names.ImageNames) != 2 || names.TotalCount != 2 {
				t.Fatalf("board images %+v", names)
			}
			var dtos []struct {
				ImageName    string `json:"image_name"`
				ImageURL     string `json:"image_url"`
				ThumbnailURL string `json:"thumbnail_url"`
				Width        int    `json:"width"`
			}
			b.do("POST", "/api/v1/images/images_by_names", http.StatusOK, apitest.JSON(map[string]any{"image_names": names.ImageNames})).Decode(&dtos)
			if len(dtos) != 2 || dtos[0].Width != 64 {
				t.Fatalf("images_by_names %+v", dtos)
			}
			var prompts []string
			for _, d := range dtos {
				b.img(d.ImageURL)
				b.img(d.ThumbnailURL)
				var meta map[string]any
				b.do("GET", "/api/v1/images/i/"+d.ImageName+"/metadata", http.StatusOK).Decode(&meta)
				prompts = append(prompts, fmt.Sprint(meta["positive_prompt"]))
				if meta["negative_prompt"] != "blurry" || meta["seed"] != float64(7) {
					t.Errorf("metadata %v", meta)
				}
			}
			slices.Sort(prompts)
			if !slices.Equal(prompts, []string{"a blue fox, in snow", "a red fox, in snow"}) {
				t.Fatalf("generated prompts %q", prompts)
			}

			// The preset is edited, exported and deleted from its menu.
			// The form sends the same data object for an update as for a create, type included.
			var edited preset
			b.do("PATCH", "/api/v1/style_presets/i/"+made.ID, http.StatusOK, presetForm(t,
				map[string]any{"name": "Foxes in snow", "positive_prompt": "{prompt}, in deep snow", "negative_prompt": "blurry", "type": "user"}, nil)).Decode(&edited)
			if edited.Name != "Foxes in snow" {
				t.Fatalf("edited %+v", edited)
			}
			if csv := string(b.do("GET", "/api/v1/style_presets/export", http.StatusOK).Body); !strings.Contains(csv, "Foxes in snow") {
				t.Fatalf("export %q", csv)
			}
			b.do("DELETE", "/api/v1/style_presets/i/"+made.ID, http.StatusOK)

			// The queue tab.
			var status map[string]any
			b.do("GET", "/api/v1/queue/default/status", http.StatusOK).Decode(&status)
			if q, _ := status["queue"].(map[string]any); q == nil || q["completed"] != float64(2) {
				t.Fatalf("queue status %v", status)
			}
		})
	}
}
