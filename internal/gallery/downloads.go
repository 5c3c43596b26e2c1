package gallery

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/store"
)

// BulkDownloadRoom is the bulk-download id every client subscribes to.
const BulkDownloadRoom = "default"

// zipNamePattern is the shape of the zip names the server creates: a cleaned board name (letters, digits,
// spaces, '_' and '-') and/or a uuid. No path separator, dot or NUL can pass.
var zipNamePattern = regexp.MustCompile(`^[\p{L}\p{N} _-]{1,300}\.zip$`)

// ValidZipName reports whether name could be a bulk-download item name.
func ValidZipName(name string) bool { return zipNamePattern.MatchString(name) }

// DownloadStarted is POST /images/download's answer.
type DownloadStarted struct {
	Response             *string `json:"response"`
	BulkDownloadItemName string  `json:"bulk_download_item_name"`
}

// timestamp renders t as the database stores times.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// StartBulkDownload checks the caller may read everything requested, records the zip with its owner and builds
// it in the background. A board takes precedence over image names, as in InvokeAI; "none" is the
// uncategorized images (admins).
func (s *Service) StartBulkDownload(ctx context.Context, p access.Principal, names []string, boardID *string) (*DownloadStarted, error) {
	hasBoard := boardID != nil && *boardID != ""
	if len(names) == 0 && !hasBoard {
		return nil, apperr.BadRequest("No images or board id specified.")
	}
	prefix := ""
	var boardScope access.Filter
	var boardHidden []access.Filter
	if hasBoard {
		if *boardID == "none" {
			if !p.IsAdmin {
				return nil, errBoardNotFound
			}
			prefix = "Uncategorized_"
		} else {
			b, err := s.loadBoard(ctx, p, *boardID, access.ReadBoard)
			if err != nil {
				return nil, err
			}
			prefix = cleanName(b.BoardName) + "_"
			// A zip of a board holds the images of it the caller may read, nothing more (docs/security.md §5.2).
			boardScope, boardHidden = boardImageScope(p, access.BoardRef{OwnerID: b.UserID, Visibility: b.BoardVisibility})
		}
	}
	var selected []string
	if !hasBoard {
		for _, n := range names {
			if _, err := s.imageFor(ctx, p, n, access.ReadImage, errSkip); err != nil {
				if errors.Is(err, errSkip) {
					continue
				}
				return nil, err
			}
			selected = append(selected, n)
		}
	} else {
		q := store.ImageQuery{BoardID: boardID, Scope: boardScope, Hidden: boardHidden}
		var err error
		if selected, _, err = s.db.ImageNames(ctx, q); err != nil {
			return nil, err
		}
	}
	itemID := prefix + uuid.NewString()
	item := itemID + ".zip"
	var board *string
	if hasBoard {
		board = boardID
	}
	if err := s.db.InsertBulkDownload(ctx, store.BulkDownload{ItemName: item, UserID: p.UserID, BoardID: board,
		ExpiresAt: timestamp(s.now().Add(s.opts.DownloadTTL))}); err != nil {
		return nil, err
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.buildZip(s.ctx, p.UserID, itemID, item, selected)
	}()
	return &DownloadStarted{BulkDownloadItemName: item}, nil
}

// cleanName keeps the letters (any script), digits, spaces, '-' and '_' of a board name for use in a file
// name, as InvokeAI does, without trailing spaces and at most 200 bytes long.
func cleanName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if b.Len()+utf8.RuneLen(r) > 200 {
			break
		}
		if unicode.IsLetter(r) || unicode.IsNumber(r) || r == ' ' || r == '-' || r == '_' {
			b.WriteRune(r)
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// BulkDownloadEvent is bulk_download_started and bulk_download_complete.
type BulkDownloadEvent struct {
	BulkDownloadID       string `json:"bulk_download_id"`
	BulkDownloadItemID   string `json:"bulk_download_item_id"`
	BulkDownloadItemName string `json:"bulk_download_item_name"`
	UserID               string `json:"user_id"`
}

// BulkDownloadErrorEvent is bulk_download_error.
type BulkDownloadErrorEvent struct {
	BulkDownloadEvent
	Error string `json:"error"`
}

func (s *Service) publish(name, owner, itemID, item string, errText string) {
	if s.opts.Events == nil {
		return
	}
	var payload any = BulkDownloadEvent{BulkDownloadID: BulkDownloadRoom, BulkDownloadItemID: itemID, BulkDownloadItemName: item,
		UserID: owner}
	if name == "bulk_download_error" {
		payload = BulkDownloadErrorEvent{BulkDownloadEvent: payload.(BulkDownloadEvent), Error: errText}
	}
	s.opts.Events.Publish(events.Event{Name: name, UserID: owner, Audience: events.OwnerAndAdmins, QueueID: BulkDownloadRoom,
		Payload: events.Fields(payload), Time: s.now()})
}

// buildZip writes the zip (stored, not compressed: PNGs are compressed already) to a temporary file, renames
// it into place and marks the row ready, announcing each step.
func (s *Service) buildZip(ctx context.Context, owner, itemID, item string, names []string) {
	s.publish("bulk_download_started", owner, itemID, item, "")
	err := s.writeZip(ctx, item, names)
	if err == nil {
		var ok bool
		ok, err = s.db.SetBulkDownloadStatus(ctx, item, store.DownloadPending, store.DownloadReady, nil)
		if err == nil && !ok {
			err = errors.New("download record disappeared")
		}
	}
	if err != nil {
		os.Remove(filepath.Join(s.zipsDir, item))
		msg := err.Error()
		if _, uerr := s.db.SetBulkDownloadStatus(context.Background(), item, store.DownloadPending, store.DownloadError, &msg); uerr != nil {
			s.logger.Warn("mark bulk download failed", "item", item, "error", uerr)
		}
		s.logger.Warn("bulk download failed", "item", item, "error", err)
		s.publish("bulk_download_error", owner, itemID, item, "Failed to create the download")
		return
	}
	s.publish("bulk_download_complete", owner, itemID, item, "")
}

func (s *Service) writeZip(ctx context.Context, item string, names []string) error {
	f, err := os.CreateTemp(s.zipsDir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create zip: %w", err)
	}
	defer os.Remove(f.Name())
	zw := zip.NewWriter(f)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			f.Close()
			return err
		}
		// Entries go in a folder per category, as InvokeAI lays its zips out.
		entry := name
		if im, err := s.loadImage(ctx, name); err == nil {
			entry = im.ImageCategory + "/" + name
		}
		if err := addZipEntry(zw, s.imagePath(name), entry); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted meanwhile
			}
			f.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("finish zip: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close zip: %w", err)
	}
	return os.Rename(f.Name(), filepath.Join(s.zipsDir, item))
}

func addZipEntry(zw *zip.Writer, path, name string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: st.ModTime()})
	if err != nil {
		return fmt.Errorf("zip entry %s: %w", name, err)
	}
	if _, err := io.Copy(w, src); err != nil {
		return fmt.Errorf("zip entry %s: %w", name, err)
	}
	return nil
}

// OpenDownload claims a ready zip for its owner or an admin and opens it. The claim is one-shot: the row is
// marked served before the file is returned, so a second request gets 404. The caller serves the file and
// then calls FinishDownload. peek (HEAD) checks without claiming.
func (s *Service) OpenDownload(ctx context.Context, p access.Principal, item string, peek bool) (*os.File, error) {
	if !ValidZipName(item) {
		return nil, errImageNotFound
	}
	d, err := s.db.BulkDownloadByName(ctx, item)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errImageNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := access.ReadDownload(p, d.UserID); err != nil {
		return nil, err
	}
	if d.Status != store.DownloadReady {
		return nil, errImageNotFound
	}
	f, err := os.Open(filepath.Join(s.zipsDir, item))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errImageNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open zip: %w", err)
	}
	if peek {
		return f, nil
	}
	claimed, err := s.db.SetBulkDownloadStatus(ctx, item, store.DownloadReady, store.DownloadServed, nil)
	if err != nil || !claimed {
		f.Close()
		if err != nil {
			return nil, err
		}
		return nil, errImageNotFound
	}
	return f, nil
}

// FinishDownload removes a served zip.
func (s *Service) FinishDownload(item string) {
	if !ValidZipName(item) {
		return
	}
	if err := os.Remove(filepath.Join(s.zipsDir, item)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Warn("remove served zip", "item", item, "error", err)
	}
}

// SweepDownloads deletes expired download records and their zips, and zips (or leftovers) in the folder that
// no record claims and that are older than the time-to-live.
func (s *Service) SweepDownloads(ctx context.Context) error {
	now := s.now()
	names, err := s.db.DeleteExpiredBulkDownloads(ctx, timestamp(now))
	if err != nil {
		return err
	}
	for _, n := range names {
		s.FinishDownload(n)
	}
	entries, err := os.ReadDir(s.zipsDir)
	if err != nil {
		return fmt.Errorf("list zips: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || e.IsDir() || now.Sub(info.ModTime()) < s.opts.DownloadTTL {
			continue
		}
		if ValidZipName(e.Name()) {
			if exists, err := s.db.BulkDownloadExists(ctx, e.Name()); err != nil || exists {
				continue
			}
		}
		os.Remove(filepath.Join(s.zipsDir, e.Name()))
	}
	return nil
}

// RunSweeper sweeps every interval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.SweepDownloads(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("sweep bulk downloads", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// StartSweeper runs the download sweeper in the background until Close.
func (s *Service) StartSweeper(interval time.Duration) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.RunSweeper(s.ctx, interval)
	}()
}
