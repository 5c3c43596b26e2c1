package fluxnode

import (
	"context"
	"slices"
	"sort"
	"testing"

	"github.com/invokego/invokego/internal/models"
)

// dropCache records which models were dropped.
type dropCache struct{ dropped []string }

func (c *dropCache) Get(context.Context, *models.Config, string) (any, error) { return nil, nil }
func (c *dropCache) Drop(key string)                                          { c.dropped = append(c.dropped, key) }

func TestMakeRoomReleasesTextEncoders(t *testing.T) {
	transformer := &models.Config{Name: "flux", Key: "tr", FileSize: 12 << 30, Format: models.FormatGGUF}
	for _, c := range []struct {
		avail int64
		want  []string
	}{
		{avail: 40 << 30, want: nil},                    // plenty: the encoders stay cached
		{avail: 13 << 30, want: []string{"clip", "t5"}}, // 12 GB of weights + headroom do not fit: both go
	} {
		cache := &dropCache{}
		m := &modelAccess{cache: cache, memAvailable: func() (int64, bool) { return c.avail, true }}
		m.noteEncoder("t5", "clip")
		m.makeRoom(context.Background(), transformer)
		sort.Strings(cache.dropped)
		if !slices.Equal(cache.dropped, c.want) {
			t.Errorf("%d GB available: dropped %v, want %v", c.avail>>30, cache.dropped, c.want)
		}
	}
	// Unknown memory: nothing is dropped.
	cache := &dropCache{}
	m := &modelAccess{cache: cache, memAvailable: func() (int64, bool) { return 0, false }}
	m.noteEncoder("t5")
	m.makeRoom(context.Background(), transformer)
	if len(cache.dropped) != 0 {
		t.Errorf("dropped %v without knowing the available memory", cache.dropped)
	}
}
