package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/models"
)

func TestCacheLoadsOnceKeepsByRecencyAndReports(t *testing.T) {
	bus := events.NewBus()
	evs, stop := bus.Subscribe(100)
	defer stop()
	c := New(100, bus)
	cfg := func(key string) *models.Config { return &models.Config{Key: key, Base: "sd-1", Type: "main"} }
	if _, err := c.Get(context.Background(), cfg("a"), ""); !errors.Is(err, ErrNoLoader) {
		t.Fatalf("no loader: %v", err)
	}
	var loads atomic.Int64
	c.SetLoader(func(ctx context.Context, m *models.Config, sub string) (any, int64, error) {
		loads.Add(1)
		if m.Key == "bad" {
			return nil, 0, errors.New("boom")
		}
		return m.Key + "/" + sub, 40, nil
	})
	// Concurrent requests share one load.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.Get(context.Background(), cfg("a"), "unet"); err != nil || v != "a/unet" {
				t.Errorf("get: %v %v", v, err)
			}
		}()
	}
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d loads", loads.Load())
	}
	c.Get(context.Background(), cfg("b"), "unet")
	c.Get(context.Background(), cfg("a"), "unet") // a is now the most recent
	c.Get(context.Background(), cfg("c"), "vae")  // 120 > 100: b goes
	st := c.Stats()
	if st.InCache != 2 || st.LoadedModelSizes["b:unet"] != 0 || st.LoadedModelSizes["a:unet"] != 40 || st.Cleared != 1 ||
		st.HighWatermark != 120 || st.CacheSize != 100 || st.Misses != 3 || st.Hits != 8 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := c.Get(context.Background(), cfg("bad"), ""); err == nil {
		t.Fatal("load error swallowed")
	}
	c.Drop("a")
	if c.Stats().InCache != 1 {
		t.Fatal("drop")
	}
	c.Clear()
	if c.Stats().InCache != 0 {
		t.Fatal("clear")
	}
	stop()
	started, complete := 0, 0
	for e := range evs {
		switch e.Name {
		case "model_load_started":
			started++
		case "model_load_complete":
			complete++
			if e.Payload["config"] == nil || e.Payload["submodel_type"] == nil {
				t.Fatalf("payload %v", e.Payload)
			}
		}
	}
	if started != 4 || complete != 3 {
		t.Fatalf("events: %d started, %d complete", started, complete)
	}
}
