package gallery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/store"
)

// Image categories and origins.
const (
	CategoryGeneral = "general"
	OriginInternal  = "internal"
	OriginExternal  = "external"
)

// UploadRequest is an upload with where it goes.
type UploadRequest struct {
	Upload
	Category       string
	IsIntermediate bool
	BoardID        *string
	SessionID      *string
}

// UploadImage stores an uploaded image for the caller. The board is checked first (404, 403), then the file
// is validated (415, 400); nothing is written unless everything passes.
func (s *Service) UploadImage(ctx context.Context, p access.Principal, req UploadRequest) (*ImageDTO, error) {
	boardID := ""
	if req.BoardID != nil && *req.BoardID != "" {
		b, err := s.boardFor(ctx, *req.BoardID)
		if err != nil {
			return nil, err
		}
		if err := access.UploadToBoard(p, boardRef(b)); err != nil {
			return nil, err
		}
		boardID = b.BoardID
	}
	dec, err := DecodeUpload(req.Upload, s.opts.MaxImagePixels)
	if err != nil {
		return nil, err
	}
	im, err := s.saveImage(ctx, dec.Image, newImage{
		owner: p.UserID, origin: OriginExternal, category: req.Category, isIntermediate: req.IsIntermediate,
		sessionID: req.SessionID, boardID: boardID, metadata: dec.Metadata, workflow: dec.Workflow, graph: dec.Graph,
	})
	if err != nil {
		return nil, err
	}
	dto := toImageDTO(im)
	return &dto, nil
}

// SaveOptions describe an image a node produced.
type SaveOptions struct {
	// Category defaults to general.
	Category       string
	IsIntermediate bool
	SessionID      string
	NodeID         string
	// BoardID, when set, must be writable by the owner (docs/security.md D8).
	BoardID  string
	Metadata json.RawMessage
	Workflow json.RawMessage
	Graph    json.RawMessage
}

// SaveGenerated stores an image produced for owner (the queue item's user). When a board is named, the owner
// must be allowed to write to it; otherwise nothing is written and the error says why.
func (s *Service) SaveGenerated(ctx context.Context, owner access.Principal, img image.Image, opts SaveOptions) (*ImageDTO, error) {
	if opts.BoardID != "" && opts.BoardID != "none" {
		b, err := s.boardFor(ctx, opts.BoardID)
		if err != nil {
			return nil, err
		}
		if err := access.WriteToBoard(owner, boardRef(b)); err != nil {
			return nil, err
		}
	} else {
		opts.BoardID = ""
	}
	if opts.Category == "" {
		opts.Category = CategoryGeneral
	}
	n := newImage{owner: owner.UserID, origin: OriginInternal, category: opts.Category, isIntermediate: opts.IsIntermediate,
		boardID: opts.BoardID, metadata: rawText(opts.Metadata), workflow: rawText(opts.Workflow), graph: rawText(opts.Graph)}
	if opts.SessionID != "" {
		n.sessionID = &opts.SessionID
	}
	if opts.NodeID != "" {
		n.nodeID = &opts.NodeID
	}
	im, err := s.saveImage(ctx, img, n)
	if err != nil {
		return nil, err
	}
	dto := toImageDTO(im)
	return &dto, nil
}

func rawText(r json.RawMessage) *string {
	if len(bytes.TrimSpace(r)) == 0 || string(bytes.TrimSpace(r)) == "null" {
		return nil
	}
	s := string(r)
	return &s
}

// Open decodes an image the caller may read (node inputs).
func (s *Service) Open(ctx context.Context, p access.Principal, name string) (image.Image, error) {
	if _, err := s.imageFor(ctx, p, name, access.ReadImage, errImageNotFound); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.imagePath(name))
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", name, err)
	}
	return DecodeImage(data, s.opts.MaxImagePixels)
}

// GetImage returns an image's DTO if the caller may read it.
func (s *Service) GetImage(ctx context.Context, p access.Principal, name string) (*ImageDTO, error) {
	im, err := s.imageFor(ctx, p, name, access.ReadImage, errImageNotFound)
	if err != nil {
		return nil, err
	}
	dto := toImageDTO(im)
	return &dto, nil
}

// GetMetadata returns the image's metadata object, or nil.
func (s *Service) GetMetadata(ctx context.Context, p access.Principal, name string) (json.RawMessage, error) {
	im, err := s.imageFor(ctx, p, name, access.ReadImage, errImageNotFound)
	if err != nil {
		return nil, err
	}
	if im.Metadata == nil || !json.Valid([]byte(*im.Metadata)) {
		return json.RawMessage("null"), nil
	}
	return json.RawMessage(*im.Metadata), nil
}

// WorkflowAndGraph is GET /images/i/{name}/workflow's answer: the stringified JSON read back from the PNG.
type WorkflowAndGraph struct {
	Workflow *string `json:"workflow"`
	Graph    *string `json:"graph"`
}

// GetWorkflow reads the workflow and graph embedded in the image file.
func (s *Service) GetWorkflow(ctx context.Context, p access.Principal, name string) (*WorkflowAndGraph, error) {
	if _, err := s.imageFor(ctx, p, name, access.ReadImage, errImageNotFound); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.imagePath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errImageNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", name, err)
	}
	texts, _ := ReadPNGText(data, KeyWorkflow, KeyGraph)
	out := &WorkflowAndGraph{}
	if v, ok := texts[KeyWorkflow]; ok {
		out.Workflow = &v
	}
	if v, ok := texts[KeyGraph]; ok {
		out.Graph = &v
	}
	return out, nil
}

// ImageURLs is GET /images/i/{name}/urls's answer.
type ImageURLs struct {
	ImageName    string `json:"image_name"`
	ImageURL     string `json:"image_url"`
	ThumbnailURL string `json:"thumbnail_url"`
}

// GetURLs returns the image's URLs if the caller may read it.
func (s *Service) GetURLs(ctx context.Context, p access.Principal, name string) (*ImageURLs, error) {
	if _, err := s.imageFor(ctx, p, name, access.ReadImage, errImageNotFound); err != nil {
		return nil, err
	}
	return &ImageURLs{ImageName: name, ImageURL: ImageURL(name), ThumbnailURL: ThumbnailURL(name)}, nil
}

// OpenImageFile opens an image's PNG (or its thumbnail) for a caller allowed to read it. Malformed names are
// 404 before any path is built; a missing image is 404 for admins and, like an image they may not read, 403 for
// everyone else.
func (s *Service) OpenImageFile(ctx context.Context, p access.Principal, name string, thumbnail bool) (*os.File, error) {
	if _, err := s.imageFor(ctx, p, name, access.ReadImage, errImageNotFound); err != nil {
		return nil, err
	}
	path := s.imagePath(name)
	if thumbnail {
		path = s.thumbPath(name)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errImageNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open image file: %w", err)
	}
	return f, nil
}

// ImageChanges is PATCH /images/i/{name}'s body.
type ImageChanges struct {
	ImageCategory  *ImageCategory `json:"image_category,omitempty"`
	SessionID      *string        `json:"session_id,omitempty"`
	IsIntermediate *bool          `json:"is_intermediate,omitempty"`
	Starred        *bool          `json:"starred,omitempty"`
}

// UpdateImage applies changes for a caller allowed to modify the image.
func (s *Service) UpdateImage(ctx context.Context, p access.Principal, name string, ch ImageChanges) (*ImageDTO, error) {
	if _, err := s.imageFor(ctx, p, name, access.ModifyImage, apperr.BadRequest("Failed to update image")); err != nil {
		return nil, err
	}
	im, err := s.db.UpdateImage(ctx, name, store.ImageChanges{
		ImageCategory: (*string)(ch.ImageCategory), SessionID: ch.SessionID, IsIntermediate: ch.IsIntermediate, Starred: ch.Starred,
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.BadRequest("Failed to update image")
	}
	if err != nil {
		return nil, err
	}
	dto := toImageDTO(im)
	return &dto, nil
}

// DeleteImagesResult is the answer of every image deletion.
type DeleteImagesResult struct {
	DeletedImages  []string `json:"deleted_images"`
	AffectedBoards []string `json:"affected_boards"`
}

// DeleteImage deletes one image. A missing image is an empty success for admins (docs/compatibility.md §1.4).
func (s *Service) DeleteImage(ctx context.Context, p access.Principal, name string) (*DeleteImagesResult, error) {
	im, err := s.imageFor(ctx, p, name, access.ModifyImage, errSkip)
	if errors.Is(err, errSkip) {
		return &DeleteImagesResult{DeletedImages: []string{}, AffectedBoards: []string{}}, nil
	}
	if err != nil {
		return nil, err
	}
	return s.deleteImages(ctx, []*store.Image{im})
}

var errSkip = errors.New("skip")

// imagesByValidNames loads the images among names; names no image can have are left out before the query.
func (s *Service) imagesByValidNames(ctx context.Context, names []string) (map[string]*store.Image, error) {
	valid := make([]string, 0, len(names))
	for _, n := range names {
		if ValidImageName(n) {
			valid = append(valid, n)
		}
	}
	return s.db.ImagesByNames(ctx, valid)
}

// checkAll loads the named images and checks rule on every one before anything changes (docs/security.md D9).
// Malformed names are skipped. A missing name is skipped for admins and refused to others with the rule's own
// refusal, exactly as an image they may not touch is: a batch must not tell them which names exist
// (docs/security.md, "not yours" and "not there"). The result keeps request order without duplicates.
func (s *Service) checkAll(ctx context.Context, p access.Principal, names []string, rule func(access.Principal, access.ImageRef) error) ([]*store.Image, error) {
	found, err := s.imagesByValidNames(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]*store.Image, 0, len(found))
	seen := map[string]bool{}
	for _, n := range names { // invalid names are not in found
		im, ok := found[n]
		if !ok && !p.IsAdmin && ValidImageName(n) {
			return nil, rule(p, absentImage())
		}
		if !ok || seen[n] {
			continue
		}
		seen[n] = true
		if err := rule(p, imageRef(im)); err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, nil
}

// DeleteImages deletes every named image, or none if any is forbidden.
func (s *Service) DeleteImages(ctx context.Context, p access.Principal, names []string) (*DeleteImagesResult, error) {
	ims, err := s.checkAll(ctx, p, names, access.ModifyImage)
	if err != nil {
		return nil, err
	}
	return s.deleteImages(ctx, ims)
}

// deleteImages removes rows in one transaction, then the files.
func (s *Service) deleteImages(ctx context.Context, ims []*store.Image) (*DeleteImagesResult, error) {
	names := make([]string, len(ims))
	boards := newKeySet()
	for i, im := range ims {
		names[i] = im.ImageName
		boards.add(boardKey(im.BoardID))
	}
	if err := s.db.DeleteImages(ctx, names); err != nil {
		return nil, err
	}
	s.removeFiles(names)
	return &DeleteImagesResult{DeletedImages: names, AffectedBoards: boards.list()}, nil
}

// DeleteUncategorized deletes the uncategorized images the caller may modify: their own, or all for admins.
func (s *Service) DeleteUncategorized(ctx context.Context, p access.Principal) (*DeleteImagesResult, error) {
	none := "none"
	names, _, err := s.db.ImageNames(ctx, store.ImageQuery{Scope: access.OwnedBy(p, "i.user_id"), BoardID: &none})
	if err != nil {
		return nil, err
	}
	ims, err := s.checkAll(ctx, p, names, access.ModifyImage)
	if err != nil {
		return nil, err
	}
	res, err := s.deleteImages(ctx, ims)
	if err != nil {
		return nil, err
	}
	if len(res.DeletedImages) > 0 {
		res.AffectedBoards = []string{"none"}
	}
	return res, nil
}

// StarResult is the answer of star and unstar.
type StarResult struct {
	Images         []string
	AffectedBoards []string
}

// SetStarred stars or unstars every named image, or none if any is forbidden.
func (s *Service) SetStarred(ctx context.Context, p access.Principal, names []string, starred bool) (*StarResult, error) {
	ims, err := s.checkAll(ctx, p, names, access.ModifyImage)
	if err != nil {
		return nil, err
	}
	out := &StarResult{Images: make([]string, len(ims))}
	boards := newKeySet()
	for i, im := range ims {
		out.Images[i] = im.ImageName
		boards.add(boardKey(im.BoardID))
	}
	if err := s.db.SetStarred(ctx, out.Images, starred); err != nil {
		return nil, err
	}
	out.AffectedBoards = boards.list()
	return out, nil
}

// ImagesByNames returns the readable images among names, in request order; others are skipped silently.
func (s *Service) ImagesByNames(ctx context.Context, p access.Principal, names []string) ([]ImageDTO, error) {
	found, err := s.imagesByValidNames(ctx, names)
	if err != nil {
		return nil, err
	}
	out := []ImageDTO{}
	for _, n := range names { // invalid names are not in found
		if im, ok := found[n]; ok && access.ReadImage(p, imageRef(im)) == nil {
			out = append(out, toImageDTO(im))
		}
	}
	return out, nil
}

// IntermediatesCount counts intermediates: the caller's own, or all for admins.
func (s *Service) IntermediatesCount(ctx context.Context, p access.Principal) (int, error) {
	yes := true
	return s.db.CountImages(ctx, store.ImageQuery{Scope: access.OwnedBy(p, "i.user_id"), IsIntermediate: &yes})
}

// ClearIntermediates deletes every intermediate image (admins only) and returns how many.
func (s *Service) ClearIntermediates(ctx context.Context, p access.Principal) (int, error) {
	if err := access.ClearAllIntermediates(p); err != nil {
		return 0, err
	}
	yes := true
	names, _, err := s.db.ImageNames(ctx, store.ImageQuery{IsIntermediate: &yes})
	if err != nil {
		return 0, err
	}
	if err := s.db.DeleteImages(ctx, names); err != nil {
		return 0, err
	}
	s.removeFiles(names)
	return len(names), nil
}

// ListQuery is the filters of GET /images and /images/names.
type ListQuery struct {
	Origin         *string
	Categories     []string
	IsIntermediate *bool
	BoardID        *string
	SearchTerm     *string
	StarredFirst   bool
	Descending     bool
	Offset, Limit  int
}

// Page is OffsetPaginatedResults.
type Page[T any] struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
	Total  int `json:"total"`
	Items  []T `json:"items"`
}

// maxPageSize bounds one page of a listing.
const maxPageSize = 10000

// imageQuery resolves who sees what for a listing: one board needs the board read rule (its images are then
// all listed); "none" and no board at all are limited to the caller's own images unless admin (docs/security.md D7).
func (s *Service) imageQuery(ctx context.Context, p access.Principal, q ListQuery) (store.ImageQuery, error) {
	sq := store.ImageQuery{Origin: q.Origin, Categories: q.Categories, IsIntermediate: q.IsIntermediate, BoardID: q.BoardID,
		SearchTerm: q.SearchTerm, StarredFirst: q.StarredFirst, Descending: q.Descending, Offset: max(q.Offset, 0), Limit: min(max(q.Limit, 0), maxPageSize)}
	switch {
	case q.BoardID == nil || *q.BoardID == "none":
		sq.Scope = access.UnscopedImageListFilter(p, "i")
	default:
		b, err := s.db.BoardRefByID(ctx, *q.BoardID)
		if errors.Is(err, store.ErrNotFound) {
			if p.IsAdmin {
				return sq, nil // admins pass the read check first; the list is simply empty
			}
			return sq, errBoardNotFound
		}
		if err != nil {
			return sq, err
		}
		if err := access.ReadBoard(p, boardRef(b)); err != nil {
			return sq, err
		}
		sq.Scope, sq.Hidden = boardImageScope(p, boardRef(b))
	}
	return sq, nil
}

// boardImageScope compiles the image-read rule for a listing of one board's images (docs/security.md §5.2):
// reading a board does not grant reading every image on it. It also returns, by index, the images the scope
// leaves out: the store drops the scope when the board holds none of them (the usual case, a board of one's
// own images), and otherwise subtracts them from the board's kept count. A board that cannot hide images from p
// (admins, shared and public boards) needs neither.
func boardImageScope(p access.Principal, b access.BoardRef) (access.Filter, []access.Filter) {
	if !access.BoardMayHideImages(p, b) {
		return access.Filter{}, nil
	}
	return access.ImageReadFilterOnBoard(p, b, "i"), access.ImageHiddenFilter(p, "i", "b").Image
}

// imageView compiles the image-read rule for the figures of the boards p sees: covers and counts over the
// images p may read.
func imageView(p access.Principal) store.ImageView {
	read := access.ImageReadFilter(p, "x", "b")
	if read.SQL == access.All.SQL {
		return store.ImageView{}
	}
	h := access.ImageHiddenFilter(p, "x", "b")
	return store.ImageView{Read: read, HiddenOnBoard: h.OnBoard, Hidden: h.Image}
}

// ListImages is GET /images.
func (s *Service) ListImages(ctx context.Context, p access.Principal, q ListQuery) (*Page[ImageDTO], error) {
	sq, err := s.imageQuery(ctx, p, q)
	if err != nil {
		return nil, err
	}
	rows, total, err := s.db.ListImages(ctx, sq)
	if err != nil {
		return nil, err
	}
	out := &Page[ImageDTO]{Limit: sq.Limit, Offset: sq.Offset, Total: total, Items: make([]ImageDTO, len(rows))}
	for i := range rows {
		out.Items[i] = toImageDTO(&rows[i])
	}
	return out, nil
}

// ImageNamesResult is GET /images/names's answer.
type ImageNamesResult struct {
	ImageNames   []string `json:"image_names"`
	StarredCount int      `json:"starred_count"`
	TotalCount   int      `json:"total_count"`
}

// ImageNames is GET /images/names.
func (s *Service) ImageNames(ctx context.Context, p access.Principal, q ListQuery) (*ImageNamesResult, error) {
	sq, err := s.imageQuery(ctx, p, q)
	if err != nil {
		return nil, err
	}
	names, starred, err := s.db.ImageNames(ctx, sq)
	if err != nil {
		return nil, err
	}
	return &ImageNamesResult{ImageNames: names, StarredCount: starred, TotalCount: len(names)}, nil
}

// keySet keeps insertion order.
type keySet struct {
	seen  map[string]bool
	order []string
}

func newKeySet() *keySet { return &keySet{seen: map[string]bool{}, order: []string{}} }

func (k *keySet) add(s string) {
	if !k.seen[s] {
		k.seen[s] = true
		k.order = append(k.order, s)
	}
}

func (k *keySet) list() []string { return k.order }
