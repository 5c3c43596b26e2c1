package gallery_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/gallery"
	"github.com/invokego/invokego/internal/store"
)

// seedImages inserts n image rows owned by owner (on board when set) in one transaction, with distinct
// creation times and a few starred and intermediate ones, as a busy gallery has.
func seedImages(b *testing.B, db *store.DB, owner, board string, n int) {
	b.Helper()
	ctx := context.Background()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	insImage, err := tx.PrepareContext(ctx, `INSERT INTO images (image_name, image_origin, image_category, width, height,
		is_intermediate, starred, user_id, created_at, updated_at) VALUES (?, 'internal', ?, 512, 512, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	insBoard, err := tx.PrepareContext(ctx, `INSERT INTO board_images (board_id, image_name) VALUES (?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		name := uuid.NewString() + ".png"
		category := "general"
		if i%10 == 0 {
			category = "control"
		}
		ts := start.Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05.000")
		if _, err := insImage.ExecContext(ctx, name, category, i%50 == 0, i%97 == 0, owner, ts, ts); err != nil {
			b.Fatal(err)
		}
		if board != "" {
			if _, err := insBoard.ExecContext(ctx, board, name); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// measure runs fn b.N times (at least minRuns) and reports p50 and p99 latencies in milliseconds.
func measure(b *testing.B, minRuns int, fn func() error) {
	b.Helper()
	runs := max(b.N, minRuns)
	durations := make([]time.Duration, 0, runs)
	b.ResetTimer()
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	pct := func(p float64) float64 {
		return float64(durations[int(p*float64(len(durations)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

// BenchmarkListBoardImages: one page of 100 images of a board holding 100 000 (plus 20 000 elsewhere), as the
// gallery asks for it: general, non-intermediate, starred first, newest first, with the true total.
func BenchmarkListBoardImages(b *testing.B) {
	ctx := context.Background()
	svc, db, _ := newService(b, nil)
	owner := addUser(b, db, "owner")
	board, err := svc.CreateBoard(ctx, owner, "big")
	if err != nil {
		b.Fatal(err)
	}
	seedImages(b, db, owner.UserID, board.BoardID, 100_000)
	seedImages(b, db, owner.UserID, "", 20_000)
	no := false
	for _, tc := range []struct {
		name string
		q    gallery.ListQuery
	}{
		{"gallery-view", gallery.ListQuery{BoardID: &board.BoardID, Categories: []string{"general"}, IsIntermediate: &no, StarredFirst: true, Descending: true, Limit: 100}},
		{"unfiltered", gallery.ListQuery{BoardID: &board.BoardID, StarredFirst: true, Descending: true, Limit: 100}},
		{"deep-page", gallery.ListQuery{BoardID: &board.BoardID, StarredFirst: true, Descending: true, Offset: 50_000, Limit: 100}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			measure(b, 50, func() error {
				page, err := svc.ListImages(ctx, owner, tc.q)
				if err == nil && (len(page.Items) != 100 || page.Total < 80_000) {
					err = fmt.Errorf("page of %d, total %d", len(page.Items), page.Total)
				}
				return err
			})
		})
	}
}

// BenchmarkListBoards: the board list of a user who sees 1 000 boards (500 of their own, 500 shared or
// public ones of others', with 500 private ones of others' hidden), each holding 20 images.
func BenchmarkListBoards(b *testing.B) {
	ctx := context.Background()
	svc, db, _ := newService(b, nil)
	viewer := addUser(b, db, "viewer")
	others := addUser(b, db, "others")
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO boards (board_id, board_name, user_id, board_visibility) VALUES (?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	boardsOf := map[string][]string{}
	for i := 0; i < 1500; i++ {
		owner, visibility := viewer.UserID, "private"
		switch {
		case i >= 1000:
			owner = others.UserID
		case i >= 500:
			owner, visibility = others.UserID, []string{"shared", "public"}[i%2]
		}
		id := uuid.NewString()
		if _, err := ins.ExecContext(ctx, id, fmt.Sprintf("Board %04d", i), owner, visibility); err != nil {
			b.Fatal(err)
		}
		boardsOf[owner] = append(boardsOf[owner], id)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	for owner, ids := range boardsOf {
		for _, id := range ids {
			seedImages(b, db, owner, id, 20)
		}
	}
	for _, tc := range []struct {
		name string
		q    gallery.BoardListQuery
	}{
		{"all", gallery.BoardListQuery{Descending: true}},
		{"all-by-name", gallery.BoardListQuery{OrderByName: true}},
		{"page-of-50", gallery.BoardListQuery{Descending: true, Paged: true, Limit: 50}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			measure(b, 50, func() error {
				items, total, err := svc.ListBoards(ctx, viewer, tc.q)
				if err == nil && total != 1000 {
					err = fmt.Errorf("sees %d boards (%d items), want 1000", total, len(items))
				}
				if err == nil && items[0].ImageCount+items[0].AssetCount != 19 { // one of the 20 is intermediate
					err = fmt.Errorf("board counts %d+%d, want 19", items[0].ImageCount, items[0].AssetCount)
				}
				return err
			})
		})
	}
}
