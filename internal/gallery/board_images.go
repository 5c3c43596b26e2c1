package gallery

import (
	"context"
	"errors"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/store"
)

// AddImagesResult is AddImagesToBoardResult.
type AddImagesResult struct {
	AddedImages    []string `json:"added_images"`
	AffectedBoards []string `json:"affected_boards"`
}

// RemoveImagesResult is RemoveImagesFromBoardResult.
type RemoveImagesResult struct {
	RemovedImages  []string `json:"removed_images"`
	AffectedBoards []string `json:"affected_boards"`
}

// AddImageToBoard puts one image on a board. The caller needs write access to the board (admin, owner, or a
// public board) and must own the image directly, so that nobody gains rights over a victim's image by putting
// it on their own board.
func (s *Service) AddImageToBoard(ctx context.Context, p access.Principal, boardID, name string) (*AddImagesResult, error) {
	b, err := s.boardFor(ctx, boardID)
	if err != nil {
		return nil, err
	}
	if err := access.ModifyBoardImages(p, boardRef(b)); err != nil {
		return nil, err
	}
	im, err := s.imageFor(ctx, p, name, access.MoveImage, errImageNotFound)
	if err != nil {
		return nil, err
	}
	return s.addImages(ctx, b.BoardID, []*store.Image{im})
}

// AddImagesToBoard puts several images on a board: all of them, or none if any is forbidden (docs/security.md D9).
// Missing images are skipped.
func (s *Service) AddImagesToBoard(ctx context.Context, p access.Principal, boardID string, names []string) (*AddImagesResult, error) {
	b, err := s.boardFor(ctx, boardID)
	if err != nil {
		return nil, err
	}
	if err := access.ModifyBoardImages(p, boardRef(b)); err != nil {
		return nil, err
	}
	// A missing image cannot be moved by a non-admin (docs/compatibility.md §1.3: the ownership lookup finds
	// nothing); checkAll refuses it as it refuses another's image.
	ims, err := s.checkAll(ctx, p, names, access.MoveImage)
	if err != nil {
		return nil, err
	}
	return s.addImages(ctx, b.BoardID, ims)
}

func (s *Service) addImages(ctx context.Context, boardID string, ims []*store.Image) (*AddImagesResult, error) {
	names := make([]string, len(ims))
	boards := newKeySet()
	if len(ims) > 0 { // nothing moved, nothing affected
		boards.add(boardID)
	}
	for i, im := range ims {
		names[i] = im.ImageName
		boards.add(boardKey(im.BoardID))
	}
	if err := s.db.AddImagesToBoard(ctx, boardID, names); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errBoardNotFound
		}
		return nil, err
	}
	return &AddImagesResult{AddedImages: names, AffectedBoards: boards.list()}, nil
}

// removeRule: taking an image off its board needs write access to that board; an uncategorized image has
// nothing to remove. A caller who may neither read the image nor write its board gets the answer a name that
// does not exist gets (imageFor, checkAll), so that the answer never says that someone's image exists.
func removeRule(p access.Principal, img access.ImageRef) error {
	if img.Board != nil {
		if err := access.ModifyBoardImages(p, *img.Board); err == nil || access.ReadImage(p, img) == nil {
			return err
		}
	} else if access.ReadImage(p, img) == nil {
		return nil
	}
	return access.ModifyBoardImages(p, access.BoardRef{})
}

// RemoveImageFromBoard makes one image uncategorized. A missing image is 404 for admins.
func (s *Service) RemoveImageFromBoard(ctx context.Context, p access.Principal, name string) (*RemoveImagesResult, error) {
	im, err := s.imageFor(ctx, p, name, removeRule, errImageNotFound)
	if err != nil {
		return nil, err
	}
	return s.removeImages(ctx, []*store.Image{im})
}

// RemoveImagesFromBoards makes several images uncategorized: all, or none if any is forbidden.
func (s *Service) RemoveImagesFromBoards(ctx context.Context, p access.Principal, names []string) (*RemoveImagesResult, error) {
	ims, err := s.checkAll(ctx, p, names, removeRule)
	if err != nil {
		return nil, err
	}
	return s.removeImages(ctx, ims)
}

func (s *Service) removeImages(ctx context.Context, ims []*store.Image) (*RemoveImagesResult, error) {
	names := make([]string, len(ims))
	boards := newKeySet()
	boards.add("none")
	for i, im := range ims {
		names[i] = im.ImageName
		boards.add(boardKey(im.BoardID))
	}
	if err := s.db.RemoveImagesFromBoards(ctx, names); err != nil {
		return nil, err
	}
	return &RemoveImagesResult{RemovedImages: names, AffectedBoards: boards.list()}, nil
}
