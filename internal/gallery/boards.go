package gallery

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/store"
)

// BoardDTO is a board as the API shows it (docs/compatibility.md §3).
type BoardDTO struct {
	BoardID         string  `json:"board_id"`
	BoardName       string  `json:"board_name"`
	UserID          string  `json:"user_id"`
	CreatedAt       string  `json:"created_at"`
	UpdatedAt       string  `json:"updated_at"`
	DeletedAt       *string `json:"deleted_at"`
	CoverImageName  *string `json:"cover_image_name"`
	Archived        bool    `json:"archived"`
	BoardVisibility string  `json:"board_visibility"`
	ImageCount      int     `json:"image_count"`
	AssetCount      int     `json:"asset_count"`
	OwnerUsername   *string `json:"owner_username"`
}

func toBoardDTO(b *store.Board, withOwner bool) BoardDTO {
	dto := BoardDTO{
		BoardID: b.BoardID, BoardName: b.BoardName, UserID: b.UserID, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
		DeletedAt: b.DeletedAt, CoverImageName: b.CoverImageName, Archived: b.Archived, BoardVisibility: b.BoardVisibility,
		ImageCount: b.ImageCount, AssetCount: b.AssetCount,
	}
	if withOwner {
		dto.OwnerUsername = b.OwnerName
	}
	return dto
}

// CreateBoard makes a private board owned by the caller.
func (s *Service) CreateBoard(ctx context.Context, p access.Principal, name string) (*BoardDTO, error) {
	b, err := s.db.CreateBoard(ctx, uuid.NewString(), name, p.UserID)
	if err != nil {
		return nil, apperr.New(500, "Failed to create board").Wrap(err)
	}
	dto := toBoardDTO(b, false)
	return &dto, nil
}

// loadBoard loads a board (404) and applies rule (403).
func (s *Service) loadBoard(ctx context.Context, p access.Principal, id string, rule func(access.Principal, access.BoardRef) error) (*store.Board, error) {
	b, err := s.db.BoardByID(ctx, id, imageView(p))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBoardNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := rule(p, access.BoardRef{OwnerID: b.UserID, Visibility: b.BoardVisibility}); err != nil {
		return nil, err
	}
	return b, nil
}

// GetBoard returns a board the caller may read.
func (s *Service) GetBoard(ctx context.Context, p access.Principal, id string) (*BoardDTO, error) {
	b, err := s.loadBoard(ctx, p, id, access.ReadBoard)
	if err != nil {
		return nil, err
	}
	dto := toBoardDTO(b, false)
	return &dto, nil
}

// BoardListQuery is GET /boards's parameters.
type BoardListQuery struct {
	OrderByName     bool
	Descending      bool
	IncludeArchived bool
	// Paged selects Offset and Limit; otherwise every visible board is returned.
	Paged         bool
	Offset, Limit int
}

// ListBoards returns the boards the caller sees and their true total (docs/security.md D11). Admins see every board
// with its owner's name.
func (s *Service) ListBoards(ctx context.Context, p access.Principal, q BoardListQuery) ([]BoardDTO, int, error) {
	rows, total, err := s.db.ListBoards(ctx, store.BoardQuery{
		Scope: access.BoardListFilter(p, "b"), View: imageView(p), IncludeArchived: q.IncludeArchived, OrderByName: q.OrderByName,
		Descending: q.Descending, Paged: q.Paged, Offset: max(q.Offset, 0), Limit: min(max(q.Limit, 0), maxPageSize),
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]BoardDTO, len(rows))
	for i := range rows {
		out[i] = toBoardDTO(&rows[i], p.IsAdmin)
	}
	return out, total, nil
}

// BoardChanges is PATCH /boards/{id}'s body; unknown keys are refused.
type BoardChanges struct {
	BoardName       *string          `json:"board_name,omitempty" max_length:"300"`
	CoverImageName  *string          `json:"cover_image_name,omitempty"`
	Archived        *bool            `json:"archived,omitempty"`
	BoardVisibility *BoardVisibility `json:"board_visibility,omitempty"`
}

// UpdateBoard renames, archives, re-shares or sets the cover of a board: admins and the owner only.
func (s *Service) UpdateBoard(ctx context.Context, p access.Principal, id string, ch BoardChanges) (*BoardDTO, error) {
	if _, err := s.loadBoard(ctx, p, id, access.UpdateBoard); err != nil {
		return nil, err
	}
	if ch.CoverImageName != nil {
		// The stored cover has no visible effect (the DTO computes its own), but it must name an image the caller
		// may read; one they may not read is as absent as a missing one.
		if _, err := s.imageFor(ctx, p, *ch.CoverImageName, access.ReadImage, errCoverNotFound); err != nil {
			if _, refused := apperr.As(err); refused {
				return nil, errCoverNotFound
			}
			return nil, err
		}
	}
	b, err := s.db.UpdateBoard(ctx, id, store.BoardChanges{
		BoardName: ch.BoardName, CoverImageName: ch.CoverImageName, Archived: ch.Archived, Visibility: (*string)(ch.BoardVisibility),
	}, imageView(p))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBoardNotFound
	}
	if err != nil {
		return nil, apperr.New(500, "Failed to update board").Wrap(err)
	}
	dto := toBoardDTO(b, false)
	return &dto, nil
}

// DeleteBoardResult is DELETE /boards/{id}'s answer.
type DeleteBoardResult struct {
	BoardID            string   `json:"board_id"`
	DeletedBoardImages []string `json:"deleted_board_images"`
	DeletedImages      []string `json:"deleted_images"`
}

var errCoverNotFound = apperr.NotFound("Image not found")

// DeleteBoard deletes a board (admins and the owner), with its images or leaving them uncategorized. The answer
// names only the images the caller may read.
func (s *Service) DeleteBoard(ctx context.Context, p access.Principal, id string, includeImages bool) (*DeleteBoardResult, error) {
	b, err := s.loadBoard(ctx, p, id, access.DeleteBoard)
	if err != nil {
		return nil, err
	}
	var readable map[string]bool
	if scope, hidden := boardImageScope(p, access.BoardRef{OwnerID: b.UserID, Visibility: b.BoardVisibility}); scope.SQL != "" {
		names, _, err := s.db.ImageNames(ctx, store.ImageQuery{BoardID: &id, Scope: scope, Hidden: hidden})
		if err != nil {
			return nil, err
		}
		readable = make(map[string]bool, len(names))
		for _, n := range names {
			readable[n] = true
		}
	}
	names, err := s.db.DeleteBoard(ctx, id, includeImages)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBoardNotFound
	}
	if err != nil {
		return nil, apperr.New(500, "Failed to delete board").Wrap(err)
	}
	res := &DeleteBoardResult{BoardID: id, DeletedBoardImages: []string{}, DeletedImages: []string{}}
	if includeImages {
		s.removeFiles(names)
	}
	shown := names
	if readable != nil {
		shown = []string{}
		for _, n := range names {
			if readable[n] {
				shown = append(shown, n)
			}
		}
	}
	if includeImages {
		res.DeletedImages = shown
	} else {
		res.DeletedBoardImages = shown
	}
	return res, nil
}

// BoardImageNames is GET /boards/{id}/image_names: the board's images, or with "none" the caller's
// uncategorized images (all of them for admins).
func (s *Service) BoardImageNames(ctx context.Context, p access.Principal, id string, categories []string, isIntermediate *bool) ([]string, error) {
	q := store.ImageQuery{Categories: categories, IsIntermediate: isIntermediate, BoardID: &id}
	if id == "none" {
		q.Scope = access.OwnedBy(p, "i.user_id")
	} else {
		b, err := s.loadBoard(ctx, p, id, access.ReadBoard)
		if err != nil {
			return nil, err
		}
		q.Scope, q.Hidden = boardImageScope(p, access.BoardRef{OwnerID: b.UserID, Visibility: b.BoardVisibility})
	}
	names, _, err := s.db.ImageNames(ctx, q)
	return names, err
}
