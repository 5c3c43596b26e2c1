package tiles

import "testing"

// Rectangular tiles: the grid of each axis is computed on its own, and the overlaps are recorded on
// both neighbours.
func TestGrid(t *testing.T) {
	g, err := Grid(16, 40, 12, 16, 4)
	if err != nil {
		t.Fatal(err)
	}
	// Rows: ceil((16-4)/(12-4)) = 2 starting at 0 and 4; columns: ceil((40-4)/(16-4)) = 3 at 0, 12, 24.
	if len(g) != 6 {
		t.Fatalf("%d tiles: %+v", len(g), g)
	}
	want := []Tile{
		{0, 12, 0, 16, 0, 8, 0, 4}, {0, 12, 12, 28, 0, 8, 4, 4}, {0, 12, 24, 40, 0, 8, 4, 0},
		{4, 16, 0, 16, 8, 0, 0, 4}, {4, 16, 12, 28, 8, 0, 4, 4}, {4, 16, 24, 40, 8, 0, 4, 0},
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("tile %d = %+v, want %+v", i, g[i], want[i])
		}
	}
	for _, bad := range [][5]int{{10, 10, 4, 8, 4}, {0, 10, 8, 8, 1}, {10, 10, 0, 8, 0}, {10, 10, 8, 8, -1}} {
		if _, err := Grid(bad[0], bad[1], bad[2], bad[3], bad[4]); err == nil {
			t.Errorf("Grid%v accepted", bad)
		}
	}
}
