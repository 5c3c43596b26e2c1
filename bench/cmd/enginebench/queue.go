package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/invokego/invokego/internal/app"
	"github.com/invokego/invokego/internal/config"
	"github.com/invokego/invokego/internal/engine/goldens"
	"github.com/invokego/invokego/internal/engine/sd"
	"github.com/invokego/invokego/internal/events"
)

// The "queue" workload: a whole 512×512 SD-1.5 text-to-image through the
// real server, as a user runs it. A random-weight SD-1.5-sized model is
// written in diffusers layout (bf16 safetensors, streamed tensor by tensor,
// so writing never holds the model in fp32), installed through the model
// manager API into a fresh root, and InvokeAI's txt2img graph (compel ×2,
// noise, denoise_latents, l2i) is enqueued over HTTP. The parts come from
// the server's own events (invocation_started/complete/progress per node,
// model_load_*) and the gallery's "image encoded" debug record (PNG and
// thumbnail); the peak RSS is the process's after the model files were
// written (it includes loading the models). A 1-step warm-up run loads the
// models first, so the timed run's parts are the steady state; the load
// times are reported apart.

// writeBF16 writes the declared tensors as one bf16 safetensors file,
// generating each as build would (same seeds) and converting it with
// round-to-nearest-even, one tensor at a time.
func (s *synth) writeBF16(path string) error {
	type entry struct {
		DType   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	header := map[string]any{}
	var off int64
	for _, p := range s.specs {
		n := int64(1)
		for _, d := range p.shape {
			n *= int64(d)
		}
		if _, dup := header[p.name]; dup {
			return fmt.Errorf("duplicate weight %s", p.name)
		}
		header[p.name] = entry{DType: "BF16", Shape: p.shape, Offsets: [2]int64{off, off + 2*n}}
		off += 2 * n
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hj)))
	if _, err := f.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := f.Write(hj); err != nil {
		return err
	}
	var vals []float32
	var raw []byte
	for _, p := range s.specs {
		n := 1
		for _, d := range p.shape {
			n *= d
		}
		vals = append(vals[:0], make([]float32, n)...)
		h := fnv.New64a()
		h.Write([]byte(p.name))
		fillUniform(vals, h.Sum64()^s.seed, p.lo, p.span)
		raw = append(raw[:0], make([]byte, 2*n)...)
		for i, v := range vals {
			b := math.Float32bits(v)
			b += 0x7fff + (b>>16)&1 // round to nearest even (no NaNs here)
			binary.LittleEndian.PutUint16(raw[2*i:], uint16(b>>16))
		}
		if _, err := f.Write(raw); err != nil {
			return err
		}
	}
	return f.Close()
}

// editJSON copies a JSON object file with some fields replaced.
func editJSON(src, dst string, set map[string]any) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	for k, v := range set {
		m[k] = v
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// writeSD15Model writes a random-weight SD-1.5-sized diffusers pipeline
// folder: the configs of the sd15-tiny-pipe fixture with SD-1.5's sizes, its
// (full CLIP) tokenizer and PNDM scheduler config, and bf16 weights.
func writeSD15Model(dir string, seed uint64, sched string) (int64, error) {
	fix, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe")
	if err != nil {
		return 0, err
	}
	for _, f := range []string{"model_index.json", "tokenizer/merges.txt", "tokenizer/vocab.json",
		"tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json"} {
		if err := copyFile(filepath.Join(fix, f), filepath.Join(dir, f)); err != nil {
			return 0, err
		}
	}
	schedCfg := map[string]any{}
	if err := json.Unmarshal([]byte(sched), &schedCfg); err != nil {
		return 0, err
	}
	if err := editJSON(filepath.Join(fix, "scheduler", "scheduler_config.json"), filepath.Join(dir, "scheduler", "scheduler_config.json"), schedCfg); err != nil {
		return 0, err
	}
	us := sd15UNetShape()
	if err := editJSON(filepath.Join(fix, "unet", "config.json"), filepath.Join(dir, "unet", "config.json"), map[string]any{
		"block_out_channels": us.blocks, "cross_attention_dim": us.crossDim, "layers_per_block": us.layersPerBlock,
		"down_block_types": us.downTypes, "up_block_types": us.upTypes, "attention_head_dim": 8, "sample_size": 64,
	}); err != nil {
		return 0, err
	}
	vc := sd15VAEConfig()
	if err := editJSON(filepath.Join(fix, "vae", "config.json"), filepath.Join(dir, "vae", "config.json"), map[string]any{
		"block_out_channels": vc.BlockOutChannels, "layers_per_block": vc.LayersPerBlock, "sample_size": 512,
	}); err != nil {
		return 0, err
	}
	cc := sd15CLIPConfig()
	if err := editJSON(filepath.Join(fix, "text_encoder", "config.json"), filepath.Join(dir, "text_encoder", "config.json"), map[string]any{
		"hidden_size": cc.HiddenSize, "intermediate_size": cc.IntermediateSize, "num_attention_heads": cc.NumAttentionHeads,
		"num_hidden_layers": cc.NumHiddenLayers, "projection_dim": cc.ProjectionDim,
	}); err != nil {
		return 0, err
	}
	return writeSynthBF16(dir, []synthFile{
		{synthUNet(us, seed), "unet/diffusion_pytorch_model.safetensors"},
		{synthVAE(vc, seed+2, false), "vae/diffusion_pytorch_model.safetensors"},
		{synthCLIP(cc, seed+1), "text_encoder/model.safetensors"},
	})
}

// sdxlCLIPGConfig is SDXL's second text encoder, OpenCLIP ViT-bigG/14's
// text tower with its projection.
func sdxlCLIPGConfig() sd.CLIPTextConfig {
	return sd.CLIPTextConfig{VocabSize: 49408, HiddenSize: 1280, IntermediateSize: 5120, NumHiddenLayers: 32,
		NumAttentionHeads: 20, MaxPositionEmbeddings: 77, HiddenAct: "gelu", LayerNormEps: 1e-5,
		ProjectionDim: 1280, BOSTokenID: 49406, EOSTokenID: 49407, PadTokenID: 49407, WithProjection: true}
}

// writeSDXLModel writes a random-weight SDXL-base-sized diffusers pipeline
// folder (UNet 2.57B, CLIP-L, CLIP-bigG with projection, VAE; bf16), from
// the sdxl-tiny fixture's configs with SDXL's sizes and the CLIP tokenizer
// of sd15-tiny-pipe for both tokenizers.
func writeSDXLModel(dir string, seed uint64, sched string) (int64, error) {
	tiny, err := goldens.Path("sd-tiny", "models", "sdxl-tiny")
	if err != nil {
		return 0, err
	}
	pipe, err := goldens.Path("sd-tiny", "models", "sd15-tiny-pipe")
	if err != nil {
		return 0, err
	}
	tok := []any{"transformers", "CLIPTokenizer"}
	if err := editJSON(filepath.Join(tiny, "model_index.json"), filepath.Join(dir, "model_index.json"),
		map[string]any{"tokenizer": tok, "tokenizer_2": tok, "text_encoder": []any{"transformers", "CLIPTextModel"},
			"vae": []any{"diffusers", "AutoencoderKL"}}); err != nil {
		return 0, err
	}
	for _, t := range []string{"tokenizer", "tokenizer_2"} {
		for _, f := range []string{"merges.txt", "vocab.json", "special_tokens_map.json", "tokenizer_config.json"} {
			if err := copyFile(filepath.Join(pipe, "tokenizer", f), filepath.Join(dir, t, f)); err != nil {
				return 0, err
			}
		}
	}
	schedCfg := map[string]any{}
	if err := json.Unmarshal([]byte(sched), &schedCfg); err != nil {
		return 0, err
	}
	if err := editJSON(filepath.Join(tiny, "scheduler", "scheduler_config.json"), filepath.Join(dir, "scheduler", "scheduler_config.json"), schedCfg); err != nil {
		return 0, err
	}
	us := sdxlUNetShape()
	if err := editJSON(filepath.Join(tiny, "unet", "config.json"), filepath.Join(dir, "unet", "config.json"), map[string]any{
		"block_out_channels": us.blocks, "cross_attention_dim": us.crossDim, "layers_per_block": us.layersPerBlock,
		"down_block_types": us.downTypes, "up_block_types": us.upTypes, "transformer_layers_per_block": us.depth,
		"attention_head_dim": []int{5, 10, 20}, "addition_time_embed_dim": 256,
		"projection_class_embeddings_input_dim": us.addIn, "use_linear_projection": true, "sample_size": 128,
	}); err != nil {
		return 0, err
	}
	vc := sd15VAEConfig()
	if err := editJSON(filepath.Join(pipe, "vae", "config.json"), filepath.Join(dir, "vae", "config.json"), map[string]any{
		"block_out_channels": vc.BlockOutChannels, "layers_per_block": vc.LayersPerBlock, "sample_size": 1024,
		"scaling_factor": 0.13025,
	}); err != nil {
		return 0, err
	}
	cl := sd15CLIPConfig()
	if err := editJSON(filepath.Join(pipe, "text_encoder", "config.json"), filepath.Join(dir, "text_encoder", "config.json"), map[string]any{
		"hidden_size": cl.HiddenSize, "intermediate_size": cl.IntermediateSize, "num_attention_heads": cl.NumAttentionHeads,
		"num_hidden_layers": cl.NumHiddenLayers, "projection_dim": cl.ProjectionDim,
	}); err != nil {
		return 0, err
	}
	cg := sdxlCLIPGConfig()
	if err := editJSON(filepath.Join(tiny, "text_encoder_2", "config.json"), filepath.Join(dir, "text_encoder_2", "config.json"), map[string]any{
		"hidden_size": cg.HiddenSize, "intermediate_size": cg.IntermediateSize, "num_attention_heads": cg.NumAttentionHeads,
		"num_hidden_layers": cg.NumHiddenLayers, "projection_dim": cg.ProjectionDim, "hidden_act": cg.HiddenAct,
		"vocab_size": cg.VocabSize, "bos_token_id": cg.BOSTokenID, "eos_token_id": cg.EOSTokenID, "pad_token_id": cg.PadTokenID,
	}); err != nil {
		return 0, err
	}
	return writeSynthBF16(dir, []synthFile{
		{synthUNet(us, seed), "unet/diffusion_pytorch_model.safetensors"},
		{synthVAE(vc, seed+2, false), "vae/diffusion_pytorch_model.safetensors"},
		{synthCLIP(cl, seed+1), "text_encoder/model.safetensors"},
		{synthCLIP(cg, seed+3), "text_encoder_2/model.safetensors"},
	})
}

// sdxlSchedulerConfig is SDXL base's scheduler_config.json (the fields the
// schedulers read).
const sdxlSchedulerConfig = `{"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
 "beta_start": 0.00085, "num_train_timesteps": 1000, "steps_offset": 1, "timestep_spacing": "leading",
 "interpolation_type": "linear", "prediction_type": "epsilon", "use_karras_sigmas": false}`

// txt2imgSDXL is InvokeAI's SDXL text-to-image graph.
func txt2imgSDXL(model map[string]any, prompt, negative string, sched string, steps int, cfgScale float64, size int) map[string]any {
	edge := func(from, field, to, toField string) map[string]any {
		return map[string]any{"source": map[string]any{"node_id": from, "field": field},
			"destination": map[string]any{"node_id": to, "field": toField}}
	}
	cond := func(id, p string) map[string]any {
		return map[string]any{"id": id, "type": "sdxl_compel_prompt", "prompt": p, "style": p,
			"original_width": size, "original_height": size, "crop_top": 0, "crop_left": 0,
			"target_width": size, "target_height": size}
	}
	return map[string]any{
		"id": "sdxl_txt2img",
		"nodes": map[string]any{
			"model": map[string]any{"id": "model", "type": "sdxl_model_loader", "is_intermediate": true, "model": model},
			"pos":   cond("pos", prompt),
			"neg":   cond("neg", negative),
			"seed":  map[string]any{"id": "seed", "type": "integer", "value": 1},
			"noise": map[string]any{"id": "noise", "type": "noise", "width": size, "height": size, "use_cpu": true},
			"denoise": map[string]any{"id": "denoise", "type": "denoise_latents", "steps": steps, "cfg_scale": cfgScale,
				"scheduler": sched, "denoising_start": 0.0, "denoising_end": 1.0},
			"l2i": map[string]any{"id": "l2i", "type": "l2i", "is_intermediate": false, "fp32": false},
		},
		"edges": []any{
			edge("model", "unet", "denoise", "unet"),
			edge("model", "clip", "pos", "clip"),
			edge("model", "clip2", "pos", "clip2"),
			edge("model", "clip", "neg", "clip"),
			edge("model", "clip2", "neg", "clip2"),
			edge("pos", "conditioning", "denoise", "positive_conditioning"),
			edge("neg", "conditioning", "denoise", "negative_conditioning"),
			edge("seed", "value", "noise", "seed"),
			edge("noise", "noise", "denoise", "noise"),
			edge("denoise", "latents", "l2i", "latents"),
			edge("model", "vae", "l2i", "vae"),
		},
	}
}

// logCapture keeps the gallery's "image encoded" records and passes
// warnings on to stderr.
type logCapture struct {
	mu      sync.Mutex
	records []map[string]any
}

func (l *logCapture) Enabled(_ context.Context, lv slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "image encoded" {
		m := map[string]any{"time": r.Time}
		r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
		l.mu.Lock()
		l.records = append(l.records, m)
		l.mu.Unlock()
	} else if r.Level >= slog.LevelWarn {
		fmt.Fprintf(os.Stderr, "server: %s %s\n", r.Level, r.Message)
	}
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

type timedEvent struct {
	at time.Time
	events.Event
}

// queueServer is the real server in this process over a fresh root.
type queueServer struct {
	app   *app.App
	srv   *httptest.Server
	logs  *logCapture
	mu    sync.Mutex
	evs   []timedEvent
	stopE func()
}

func startQueueServer(ctx context.Context, root, precision string) (*queueServer, error) {
	cfg := config.Default()
	cfg.Root = root
	cfg.Precision = precision
	q := &queueServer{logs: &logCapture{}}
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: slog.New(q.logs)})
	if err != nil {
		return nil, err
	}
	q.app = a
	q.srv = httptest.NewServer(a.Handler())
	bus, stop := a.Events.Subscribe(1 << 16)
	q.stopE = stop
	go func() {
		for e := range bus {
			q.mu.Lock()
			q.evs = append(q.evs, timedEvent{time.Now(), e})
			q.mu.Unlock()
		}
	}()
	return q, nil
}

func (q *queueServer) close() {
	q.stopE()
	q.srv.Close()
	_ = q.app.Close()
}

func (q *queueServer) do(method, path string, body any, out any) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, q.srv.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// install installs a model folder through the model manager API and
// returns its identifier.
func (q *queueServer) install(src, name string) (map[string]any, error) {
	var job struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := q.do("POST", "/api/v2/models/install?source="+url.QueryEscape(src), map[string]any{}, &job); err != nil {
		return nil, err
	}
	for job.Status != "completed" {
		if job.Status == "error" || job.Status == "cancelled" {
			return nil, fmt.Errorf("install: %s %s", job.Status, job.Error)
		}
		time.Sleep(200 * time.Millisecond)
		if err := q.do("GET", "/api/v2/models/install/"+strconv.Itoa(job.ID), nil, &job); err != nil {
			return nil, err
		}
	}
	var list struct {
		Models []map[string]any `json:"models"`
	}
	if err := q.do("GET", "/api/v2/models/", nil, &list); err != nil {
		return nil, err
	}
	for _, m := range list.Models {
		if m["name"] == name {
			return map[string]any{"key": m["key"], "hash": m["hash"], "name": m["name"], "base": m["base"], "type": m["type"]}, nil
		}
	}
	return nil, fmt.Errorf("installed model %s not listed", name)
}

// txt2img is InvokeAI's SD-1.5 text-to-image graph.
// prompt varies so the invocation cache cannot answer the compel nodes
// from an earlier run.
func txt2img(model map[string]any, prompt, negative string, sched string, steps int, cfgScale float64, size int) map[string]any {
	edge := func(from, field, to, toField string) map[string]any {
		return map[string]any{"source": map[string]any{"node_id": from, "field": field},
			"destination": map[string]any{"node_id": to, "field": toField}}
	}
	return map[string]any{
		"id": "txt2img",
		"nodes": map[string]any{
			"model":     map[string]any{"id": "model", "type": "main_model_loader", "is_intermediate": true, "model": model},
			"clip_skip": map[string]any{"id": "clip_skip", "type": "clip_skip", "skipped_layers": 0},
			"pos":       map[string]any{"id": "pos", "type": "compel", "prompt": prompt},
			"neg":       map[string]any{"id": "neg", "type": "compel", "prompt": negative},
			"seed":      map[string]any{"id": "seed", "type": "integer", "value": 1},
			"noise":     map[string]any{"id": "noise", "type": "noise", "width": size, "height": size, "use_cpu": true},
			"denoise": map[string]any{"id": "denoise", "type": "denoise_latents", "steps": steps, "cfg_scale": cfgScale,
				"scheduler": sched, "denoising_start": 0.0, "denoising_end": 1.0},
			"l2i": map[string]any{"id": "l2i", "type": "l2i", "is_intermediate": false, "fp32": false},
		},
		"edges": []any{
			edge("model", "unet", "denoise", "unet"),
			edge("model", "clip", "clip_skip", "clip"),
			edge("clip_skip", "clip", "pos", "clip"),
			edge("clip_skip", "clip", "neg", "clip"),
			edge("pos", "conditioning", "denoise", "positive_conditioning"),
			edge("neg", "conditioning", "denoise", "negative_conditioning"),
			edge("seed", "value", "noise", "seed"),
			edge("noise", "noise", "denoise", "noise"),
			edge("denoise", "latents", "l2i", "latents"),
			edge("model", "vae", "l2i", "vae"),
		},
	}
}

// run enqueues graph, waits for its item and returns the wall time and the
// events published meanwhile.
func (q *queueServer) run(graph map[string]any, timeout time.Duration) (float64, []timedEvent, error) {
	q.mu.Lock()
	from := len(q.evs)
	q.mu.Unlock()
	t0 := time.Now()
	var res struct {
		ItemIDs []int `json:"item_ids"`
	}
	body := map[string]any{"batch": map[string]any{"graph": graph, "runs": 1}, "prepend": false}
	if err := q.do("POST", "/api/v1/queue/default/enqueue_batch", body, &res); err != nil {
		return 0, nil, err
	}
	if len(res.ItemIDs) != 1 {
		return 0, nil, fmt.Errorf("enqueued %d items", len(res.ItemIDs))
	}
	deadline := time.Now().Add(timeout)
	for {
		var it struct {
			Status       string `json:"status"`
			ErrorMessage string `json:"error_message"`
		}
		if err := q.do("GET", "/api/v1/queue/default/i/"+strconv.Itoa(res.ItemIDs[0]), nil, &it); err != nil {
			return 0, nil, err
		}
		if it.Status == "completed" {
			break
		}
		if it.Status == "failed" || it.Status == "canceled" {
			return 0, nil, fmt.Errorf("item %s: %s", it.Status, it.ErrorMessage)
		}
		if time.Now().After(deadline) {
			return 0, nil, fmt.Errorf("item still %s after %v", it.Status, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	total := time.Since(t0).Seconds()
	time.Sleep(100 * time.Millisecond) // the last events
	q.mu.Lock()
	evs := append([]timedEvent(nil), q.evs[from:]...)
	q.mu.Unlock()
	return total, evs, nil
}

// parts reads a run's parts from its events: each node's time
// (invocation_started → complete), the denoising steps (progress events of
// "denoise"), the VAE decode (l2i's "Running VAE decoder" progress to the
// gallery's image-encoded record less the encoding) and the model loads.
func parts(evs []timedEvent, logs []map[string]any) map[string]any {
	started := map[string]time.Time{}
	nodeSec := map[string]float64{}
	var steps []float64
	var lastStep, decodeStart time.Time
	loads := map[string]float64{}
	loadStart := map[string]time.Time{}
	for _, e := range evs {
		src, _ := e.Payload["invocation_source_id"].(string)
		switch e.Name {
		case "invocation_started":
			started[src] = e.at
			if src == "denoise" {
				lastStep = e.at
			}
		case "invocation_complete":
			nodeSec[src] += e.at.Sub(started[src]).Seconds()
		case "invocation_progress":
			if src == "denoise" {
				steps = append(steps, e.at.Sub(lastStep).Seconds())
				lastStep = e.at
			}
			if src == "l2i" {
				decodeStart = e.at
			}
		case "model_load_started", "model_load_complete":
			sub := ""
			if s, ok := e.Payload["submodel_type"].(*string); ok && s != nil {
				sub = *s
			} else if s, ok := e.Payload["submodel_type"].(string); ok {
				sub = s
			}
			if e.Name == "model_load_started" {
				loadStart[sub] = e.at
			} else {
				loads[sub] += e.at.Sub(loadStart[sub]).Seconds()
			}
		}
	}
	out := map[string]any{"node_seconds": nodeSec, "step_seconds": steps, "model_load_seconds": loads,
		"text_encoder_seconds": nodeSec["pos"] + nodeSec["neg"]}
	var sum float64
	for _, s := range steps {
		sum += s
	}
	if len(steps) > 0 {
		out["mean_step_seconds"] = sum / float64(len(steps))
	}
	if n := len(logs); n > 0 {
		l := logs[n-1]
		png, _ := l["png_seconds"].(float64)
		th, _ := l["thumbnail_seconds"].(float64)
		at, _ := l["time"].(time.Time)
		out["png_encode_seconds"], out["thumbnail_seconds"], out["png_bytes"] = png, th, l["png_bytes"]
		if !decodeStart.IsZero() {
			out["vae_decode_seconds"] = at.Sub(decodeStart).Seconds() - png - th
		}
	}
	return out
}

// queueRun is the queue workload for one precision and scheduler: write the
// model (with schedCfg as its scheduler config), start a server on a fresh
// root, install, warm up (1 step: loads every model), then the timed image.
func queueRun(ctx context.Context, name, arch, precision string, seed uint64, sched, schedCfg string, steps int, cfgScale float64) {
	root, err := os.MkdirTemp("", "invokego-queuebench-")
	check(err)
	tempRoots = append(tempRoots, root)
	defer os.RemoveAll(root)
	src := filepath.Join(root, "src", arch+"-random")
	t0 := time.Now()
	write, graph, size := writeSD15Model, txt2img, 512
	if arch == "sdxl" {
		write, graph, size = writeSDXLModel, txt2imgSDXL, 1024
	}
	params, err := write(src, seed, schedCfg)
	check(err)
	fmt.Fprintf(os.Stderr, "enginebench: wrote %s (%.0fM params, bf16) in %.1fs\n", src, float64(params)/1e6, time.Since(t0).Seconds())
	runtime.GC()
	debug.FreeOSMemory()
	reset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	rssBefore := procStatusKB("VmRSS") * 1024

	q, err := startQueueServer(ctx, filepath.Join(root, "invokeai"), precision)
	check(err)
	defer q.close()
	model, err := q.install(src, arch+"-random")
	check(err)
	ws := startMemSampler(20 * time.Millisecond)
	warm, wevs, err := q.run(graph(model, "a photo of a cat", "", sched, 1, cfgScale, size), 3*time.Hour)
	warmMem := ws.Stop()
	ws.Keep(name + "-warmup")
	check(err)
	wp := parts(wevs, nil)
	// The warm-up's peak includes loading (and packing) the models; the
	// timed run's is its own.
	loadPeak := procStatusKB("VmHWM") * 1024
	if reset {
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	}
	c0 := cpuSeconds()
	load0 := loadAvg()
	rs := startMemSampler(20 * time.Millisecond)
	total, evs, err := q.run(graph(model, "a watercolor painting of a lighthouse at dusk, highly detailed", "blurry, low quality",
		sched, steps, cfgScale, size), 6*time.Hour)
	check(err)
	runMem := rs.Stop()
	rs.Keep(name)
	q.logs.mu.Lock()
	logs := append([]map[string]any(nil), q.logs.records...)
	q.logs.mu.Unlock()
	r := parts(evs, logs)
	r["impl"], r["name"], r["precision"], r["scheduler"], r["steps"], r["cfg_scale"] = "invokego", name, precision, sched, steps, cfgScale
	r["via"] = "queue (HTTP enqueue_batch to the server in this process)"
	r["seconds"], r["cpu_seconds"], r["load"] = total, cpuSeconds()-c0, []float64{load0, loadAvg()}
	r["warmup_seconds"], r["warmup_model_load_seconds"] = warm, wp["model_load_seconds"]
	r["peak_rss_bytes"], r["warmup_peak_rss_bytes"], r["rss_before_server_bytes"], r["hwm_reset"] = procStatusKB("VmHWM")*1024, loadPeak, rssBefore, reset
	r["weights_params"] = params
	r["peak_memory"], r["warmup_peak_memory"] = runMem, warmMem
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

// synthFile is one synthesized network and where it goes in a diffusers folder.
type synthFile struct {
	s    *synth
	path string
}

// writeSynthBF16 writes each network as bf16 safetensors under dir, one at a
// time with a collection between them, so only one network's random weights
// are live at once; it returns the parameter count.
func writeSynthBF16(dir string, files []synthFile) (int64, error) {
	var params int64
	for _, w := range files {
		params += w.s.params()
		if err := w.s.writeBF16(filepath.Join(dir, w.path)); err != nil {
			return 0, err
		}
		runtime.GC()
	}
	return params, nil
}
