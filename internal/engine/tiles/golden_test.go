package tiles

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/engine/goldens"
)

// testdata/nodes/tiles/tiles.safetensors: InvokeAI's grids and merges computed with NumPy 1.24 and OpenCV
// 4.6 (make_tiles.py beside it). Grids must be equal, merged images byte for byte.

func loadGoldens(t *testing.T) map[string]goldens.Tensor {
	t.Helper()
	p, err := goldens.Path("nodes", "tiles", "tiles.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	g, err := goldens.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func tilesOf(v goldens.Tensor) []Tile {
	out := make([]Tile, v.Shape[0])
	for i := range out {
		r := v.Ints[i*8:][:8]
		out[i] = Tile{Top: int(r[0]), Bottom: int(r[1]), Left: int(r[2]), Right: int(r[3]),
			OverlapTop: int(r[4]), OverlapBottom: int(r[5]), OverlapLeft: int(r[6]), OverlapRight: int(r[7])}
	}
	return out
}

func sortedKeys(g map[string]goldens.Tensor, prefix string) []string {
	var keys []string
	for k := range g {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func TestGridGoldens(t *testing.T) {
	g := loadGoldens(t)
	keys := sortedKeys(g, "grid.")
	if len(keys) < 15 {
		t.Fatalf("%d grid goldens", len(keys))
	}
	for _, k := range keys {
		parts := strings.Split(k, ".")
		var a [5]int
		for i, s := range strings.Split(parts[2], "_") {
			a[i], _ = strconv.Atoi(s)
		}
		var got []Tile
		var err error
		switch parts[1] {
		case "with_overlap":
			got, err = WithOverlap(a[0], a[1], a[2], a[3], a[4])
		case "even_split":
			got, err = EvenSplit(a[0], a[1], a[2], a[3], a[4])
		case "min_overlap":
			got, err = MinOverlapExact(a[0], a[1], a[2], a[3], a[4])
		}
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if want := tilesOf(g[k]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n got %+v\nwant %+v", k, got, want)
		}
	}
}

// InvokeAI's assertions and errors: an image smaller than a tile (with_overlap), an overlap not below
// the tile, sides not multiples of 8 or too many tiles for the overlap (even split), an image side equal to
// the overlap under a larger tile (min_overlap divides by zero), and grids beyond MaxTiles.
func TestGridRefusals(t *testing.T) {
	bad := []struct {
		name string
		err  error
	}{
		{"with_overlap image below tile", func() error { _, err := WithOverlap(100, 1000, 576, 576, 0); return err }()},
		{"with_overlap overlap = tile", func() error { _, err := WithOverlap(1000, 1000, 64, 128, 64); return err }()},
		{"even_split odd size", func() error { _, err := EvenSplit(1020, 1024, 2, 2, 0); return err }()},
		{"even_split overlap too large", func() error { _, err := EvenSplit(64, 64, 2, 1, 57); return err }()},
		{"even_split tile of 0", func() error { _, err := EvenSplit(64, 64, 9, 1, 0); return err }()},
		{"min_overlap side = overlap", func() error { _, err := MinOverlapExact(128, 1024, 576, 576, 128); return err }()},
		{"min_overlap overlap = tile", func() error { _, err := MinOverlapExact(1000, 1000, 64, 64, 64); return err }()},
		{"too many tiles", func() error { _, err := WithOverlap(16384, 16384, 8, 8, 0); return err }()},
		{"too many even tiles", func() error { _, err := EvenSplit(16384, 16384, 1024, 1024, 0); return err }()},
	}
	for _, b := range bad {
		if b.err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
}

func TestMergeGoldens(t *testing.T) {
	g := loadGoldens(t)
	cases := sortedKeys(g, "merge.")
	checked := 0
	for _, k := range cases {
		if !strings.HasSuffix(k, ".tiles") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(k, "merge."), ".tiles")
		ts := tilesOf(g[k])
		pieces := make([]Piece, len(ts))
		for i, tl := range ts {
			v := g[fmt.Sprintf("merge.%s.tile%d", name, i)]
			pieces[i] = Piece{Tile: tl, Image: &RGB{Pix: v.Raw, W: v.Shape[1], H: v.Shape[0]}}
		}
		for _, out := range sortedKeys(g, "merge."+name+".") {
			parts := strings.Split(strings.TrimPrefix(out, "merge."+name+"."), ".")
			if len(parts) != 2 || (parts[0] != "Linear" && parts[0] != "Seam") {
				continue
			}
			blend, _ := strconv.Atoi(parts[1])
			want := g[out]
			dst := NewRGB(want.Shape[1], want.Shape[0])
			merge := MergeLinear
			if parts[0] == "Seam" {
				merge = MergeSeam
			}
			if err := merge(dst, pieces, blend); err != nil {
				t.Errorf("%s: %v", out, err)
				continue
			}
			checked++
			off, worst := 0, 0
			for i, v := range want.Raw {
				if d := int(dst.Pix[i]) - int(v); d != 0 {
					off++
					worst = max(worst, d, -d)
				}
			}
			if off > 0 {
				t.Errorf("%s: %d of %d values differ, by up to %d", out, off, len(want.Raw), worst)
			}
		}
	}
	if checked < 15 {
		t.Fatalf("only %d merges checked", checked)
	}
}

// Overlaps below the blend amount are refused, as InvokeAI's assertions refuse them.
func TestMergeRefusals(t *testing.T) {
	ts, err := WithOverlap(32, 48, 32, 32, 16)
	if err != nil {
		t.Fatal(err)
	}
	pieces := []Piece{{ts[0], NewRGB(32, 32)}, {ts[1], NewRGB(32, 32)}}
	for _, merge := range []func(*RGB, []Piece, int) error{MergeLinear, MergeSeam} {
		if err := merge(NewRGB(48, 32), pieces, 17); err == nil {
			t.Error("a blend wider than the overlap was accepted")
		}
		if err := merge(NewRGB(48, 32), []Piece{{ts[0], NewRGB(31, 32)}}, 4); err == nil {
			t.Error("an image not the tile's size was accepted")
		}
	}
}
