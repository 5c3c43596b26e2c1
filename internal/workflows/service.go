// Package workflows is the workflow library: users' private and shared workflows and the built-in defaults
// (InvokeAI's workflow_records and workflow_thumbnails services). Permissions come from the access package;
// SQL lives in the store.
//
// Where InvokeAI's reference and its later releases differ (docs/compatibility.md §9):
//   - Admins list every workflow, as later InvokeAI does (the reference scoped admins' listings to their own
//     plus the defaults).
//   - New workflows start private in both modes, as in the reference (docs/security.md D16); later InvokeAI
//     shares those made in single-user mode. Sharing stays an explicit choice.
//
// Fixes and choices over the seed:
//   - Changing or deleting a default workflow is 403, never 500; so is creating one through the API or turning
//     a workflow into one. Updating or deleting an unknown id is 404 in every mode; deleting a missing
//     thumbnail succeeds.
//   - The workflow JSON is stored as received (member order, unknown keys, number spelling), with its id set,
//     instead of being re-serialised from the typed model, so an exported file reads back unchanged.
//   - Search text and tags are matched literally: % and _ in them are not LIKE wildcards.
//   - thumbnail_url is "api/v1/workflows/i/<id>/thumbnail" without InvokeAI's random cache-busting query, and
//     the thumbnail is served "private, no-cache" with Last-Modified (it is per-user since docs/security.md D2, and its
//     URL does not change when it is replaced), instead of a one-year max-age.
//   - Thumbnails are PNG files (<outputs>/workflow_thumbnails/<id>.png, at most 256 px on a side) made from PNG,
//     JPEG or GIF uploads; files whose workflow is gone are removed at start-up.
package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/store"
)

// Workflow categories.
const (
	CategoryUser    = access.CategoryUser
	CategoryDefault = access.CategoryDefault
)

// sharedTag is the tag InvokeAI keeps in step with is_public.
const sharedTag = "shared"

// Options configure a Service.
type Options struct {
	DB *store.DB
	// ThumbnailDir holds <workflow_id>.png thumbnails.
	ThumbnailDir string
	Events       events.Publisher
	Now          func() time.Time
	Logger       *slog.Logger
}

// Service is the workflow library.
type Service struct {
	db         *store.DB
	thumbnails thumbnailStore
	events     events.Publisher
	now        func() time.Time
	logger     *slog.Logger
}

// NewService builds the library; call SyncDefaults once at start-up.
func NewService(o Options) (*Service, error) {
	if o.DB == nil || o.ThumbnailDir == "" {
		return nil, errors.New("workflows: a database and a thumbnail folder are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Events == nil {
		o.Events = discardEvents{}
	}
	return &Service{db: o.DB, thumbnails: thumbnailStore{dir: o.ThumbnailDir},
		events: o.Events, now: o.Now, logger: o.Logger}, nil
}

type discardEvents struct{}

func (discardEvents) Publish(events.Event) {}

// WorkflowRecordDTO is a stored workflow as InvokeAI returns it; Workflow is the document with its id.
type WorkflowRecordDTO struct {
	WorkflowID string          `json:"workflow_id"`
	Name       string          `json:"name"`
	CreatedAt  string          `json:"created_at"`
	UpdatedAt  string          `json:"updated_at"`
	OpenedAt   *string         `json:"opened_at"`
	UserID     string          `json:"user_id"`
	IsPublic   bool            `json:"is_public"`
	Workflow   json.RawMessage `json:"workflow"`
}

// WorkflowRecordWithThumbnailDTO is GET /workflows/i/{id}'s answer.
type WorkflowRecordWithThumbnailDTO struct {
	WorkflowRecordDTO
	ThumbnailURL *string `json:"thumbnail_url"`
}

// WorkflowRecordListItemWithThumbnailDTO is one row of a listing.
type WorkflowRecordListItemWithThumbnailDTO struct {
	WorkflowID   string  `json:"workflow_id"`
	Name         string  `json:"name"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
	OpenedAt     *string `json:"opened_at"`
	UserID       string  `json:"user_id"`
	IsPublic     bool    `json:"is_public"`
	Description  string  `json:"description"`
	Category     string  `json:"category"`
	Tags         string  `json:"tags"`
	ThumbnailURL *string `json:"thumbnail_url"`
}

// PaginatedResults is InvokeAI's page shape.
type PaginatedResults[T any] struct {
	Page    int `json:"page"`
	Pages   int `json:"pages"`
	PerPage int `json:"per_page"`
	Total   int `json:"total"`
	Items   []T `json:"items"`
}

func ref(w *store.WorkflowRecord) access.WorkflowRef {
	return access.WorkflowRef{OwnerID: w.UserID, IsPublic: w.IsPublic, Category: w.Category}
}

func recordDTO(w *store.WorkflowRecord) *WorkflowRecordDTO {
	return &WorkflowRecordDTO{WorkflowID: w.WorkflowID, Name: w.Name, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
		OpenedAt: w.OpenedAt, UserID: w.UserID, IsPublic: w.IsPublic, Workflow: json.RawMessage(w.Document)}
}

// load fetches a workflow or answers 404.
func (s *Service) load(ctx context.Context, id string) (*store.WorkflowRecord, error) {
	w, err := s.db.WorkflowByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("Workflow not found")
	}
	return w, err
}

// loadForChange fetches a workflow the caller wants to change, checking the rule first (404 before 403).
func (s *Service) loadForChange(ctx context.Context, p access.Principal, id, action string) (*store.WorkflowRecord, error) {
	w, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := access.ChangeWorkflow(p, ref(w), action); err != nil {
		return nil, err
	}
	return w, nil
}

// notFoundIfGone turns a row that vanished between the check and the write into a 404.
func notFoundIfGone(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return apperr.NotFound("Workflow not found")
	}
	return err
}

// WorkflowEvent is workflow_created and workflow_deleted. is_public routes the event to everyone (the shared
// room) only while the workflow is shared.
type WorkflowEvent struct {
	WorkflowID string `json:"workflow_id"`
	UserID     string `json:"user_id"`
	IsPublic   bool   `json:"is_public"`
}

// WorkflowUpdatedEvent is workflow_updated.
type WorkflowUpdatedEvent struct {
	WorkflowEvent
	OldIsPublic bool `json:"old_is_public"`
	NewIsPublic bool `json:"new_is_public"`
}

// WorkflowAccessRevokedEvent is workflow_access_revoked: everyone who could see the shared workflow drops it.
type WorkflowAccessRevokedEvent struct {
	WorkflowID string `json:"workflow_id"`
	UserID     string `json:"user_id"`
}

func (s *Service) publish(name, ownerID string, audience events.Audience, payload any) {
	s.events.Publish(events.Event{Name: name, UserID: ownerID, Audience: audience, Payload: events.Fields(payload), Time: s.now()})
}

// Create stores a new workflow owned by the caller.
func (s *Service) Create(ctx context.Context, p access.Principal, wf *Parsed) (*WorkflowRecordDTO, error) {
	if err := access.CreateWorkflow(p, wf.Category); err != nil {
		return nil, err
	}
	id := uuid.NewString()
	// New workflows start private in both modes, as at the seed (docs/security.md D16); sharing is explicit.
	if err := s.db.InsertWorkflow(ctx, id, string(wf.Document(id)), p.UserID, false); err != nil {
		return nil, err
	}
	w, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	s.publish("workflow_created", w.UserID, events.OwnerAdminsAndShared, WorkflowEvent{w.WorkflowID, w.UserID, w.IsPublic})
	return recordDTO(w), nil
}

// Get returns a workflow the caller may read.
func (s *Service) Get(ctx context.Context, p access.Principal, id string) (*WorkflowRecordWithThumbnailDTO, error) {
	w, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := access.ReadWorkflow(p, ref(w)); err != nil {
		return nil, err
	}
	return &WorkflowRecordWithThumbnailDTO{WorkflowRecordDTO: *recordDTO(w), ThumbnailURL: s.thumbnailURL(w.WorkflowID)}, nil
}

// Update replaces a workflow's document; the id comes from the document, as in InvokeAI.
func (s *Service) Update(ctx context.Context, p access.Principal, wf *Parsed) (*WorkflowRecordDTO, error) {
	existing, err := s.loadForChange(ctx, p, wf.ID, "update")
	if err != nil {
		return nil, err
	}
	// Turning a workflow into a default one would smuggle it into everyone's default library.
	if err := access.ChangeWorkflow(p, access.WorkflowRef{OwnerID: existing.UserID, Category: wf.Category}, "update"); err != nil {
		return nil, err
	}
	if err := s.db.ReplaceWorkflowDocument(ctx, wf.ID, string(wf.Document(wf.ID))); err != nil {
		return nil, notFoundIfGone(err)
	}
	w, err := s.load(ctx, wf.ID)
	if err != nil {
		return nil, err
	}
	s.publishUpdated(w, existing.IsPublic)
	return recordDTO(w), nil
}

// publishUpdated announces a change; when a shared workflow became private, everyone who could see it is
// told to drop it (workflow_access_revoked, delivered to all sockets like the shared room at HEAD).
func (s *Service) publishUpdated(w *store.WorkflowRecord, wasPublic bool) {
	s.publish("workflow_updated", w.UserID, events.OwnerAdminsAndShared, WorkflowUpdatedEvent{
		WorkflowEvent: WorkflowEvent{w.WorkflowID, w.UserID, w.IsPublic}, OldIsPublic: wasPublic, NewIsPublic: w.IsPublic})
	if wasPublic && !w.IsPublic {
		s.publish("workflow_access_revoked", w.UserID, events.Everyone, WorkflowAccessRevokedEvent{w.WorkflowID, w.UserID})
	}
}

// Delete removes a workflow and its thumbnail.
func (s *Service) Delete(ctx context.Context, p access.Principal, id string) error {
	w, err := s.loadForChange(ctx, p, id, "delete")
	if err != nil {
		return err
	}
	if err := s.db.DeleteWorkflow(ctx, id); err != nil {
		return notFoundIfGone(err)
	}
	if err := s.thumbnails.remove(id); err != nil {
		s.logger.Warn("could not remove workflow thumbnail", "workflow_id", id, "error", err)
	}
	s.publish("workflow_deleted", w.UserID, events.OwnerAdminsAndShared, WorkflowEvent{w.WorkflowID, w.UserID, w.IsPublic})
	return nil
}

// SetPublic shares or unshares a workflow, adding or removing the "shared" tag to match.
func (s *Service) SetPublic(ctx context.Context, p access.Principal, id string, isPublic bool) (*WorkflowRecordDTO, error) {
	existing, err := s.loadForChange(ctx, p, id, "update")
	if err != nil {
		return nil, err
	}
	stored, err := ValidateWithID([]byte(existing.Document), "workflow")
	if err != nil {
		return nil, fmt.Errorf("stored workflow %s no longer validates: %w", id, err)
	}
	updated := stored.WithTags(toggleTag(stored.Tags, sharedTag, isPublic))
	if err := s.db.SetWorkflowPublic(ctx, id, string(updated.Document(id)), isPublic); err != nil {
		return nil, notFoundIfGone(err)
	}
	w, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	s.publishUpdated(w, existing.IsPublic)
	return recordDTO(w), nil
}

// toggleTag adds or removes tag in a comma-separated list, re-joined with ", " as InvokeAI does.
func toggleTag(tags, tag string, present bool) string {
	var list []string
	has := -1
	for _, t := range strings.Split(tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			if t == tag && has < 0 {
				has = len(list)
			}
			list = append(list, t)
		}
	}
	switch {
	case present && has < 0:
		list = append(list, tag)
	case !present && has >= 0:
		list = append(list[:has], list[has+1:]...)
	}
	return strings.Join(list, ", ")
}

// MarkOpened records that the workflow was opened now (the library's "recent" view).
func (s *Service) MarkOpened(ctx context.Context, p access.Principal, id string) error {
	w, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if err := access.MarkWorkflowOpened(p, ref(w)); err != nil {
		return err
	}
	return notFoundIfGone(s.db.SetWorkflowOpenedAt(ctx, id, s.now().UTC().Format("2006-01-02 15:04:05.000")))
}

// ListQuery is a listing request.
type ListQuery struct {
	Page int
	// PerPage nil or 0 returns every match on one page.
	PerPage *int
	// OrderBy is a column name (WorkflowOrder's values, which the API's enum lists).
	OrderBy       string
	Descending    bool
	Categories    []string
	Tags          []string
	Query         string
	HasBeenOpened *bool
	IsPublic      *bool
}

// listAccess is InvokeAI's listing rule on top of what the caller may see at all: a listing that includes the
// user category is the caller's own library (plus defaults) unless shared workflows are asked for explicitly.
func listAccess(p access.Principal, includesUser bool, isPublic *bool) access.Filter {
	f := access.WorkflowListFilter(p)
	if includesUser && (isPublic == nil || !*isPublic) {
		f = access.And(f, access.WorkflowLibraryScope(p))
	}
	return f
}

func includesUser(categories []string, emptyMeansAll bool) bool {
	if len(categories) == 0 {
		return emptyMeansAll
	}
	for _, c := range categories {
		if c == CategoryUser {
			return true
		}
	}
	return false
}

// List returns one page of the workflows the caller sees.
func (s *Service) List(ctx context.Context, p access.Principal, q ListQuery) (*PaginatedResults[WorkflowRecordListItemWithThumbnailDTO], error) {
	filter := store.WorkflowFilter{Categories: q.Categories, Tags: q.Tags, Query: q.Query, HasBeenOpened: q.HasBeenOpened,
		IsPublic: q.IsPublic, Access: listAccess(p, includesUser(q.Categories, true), q.IsPublic)}
	page := store.WorkflowPage{OrderBy: store.WorkflowOrder(q.OrderBy), Descending: q.Descending}
	perPage := 0
	if q.PerPage != nil {
		perPage = *q.PerPage
	}
	if perPage > 0 {
		page.Limit, page.Offset = perPage, q.Page*perPage
		if q.Page > 0 && perPage > math.MaxInt64/q.Page {
			page.Offset = math.MaxInt64 // far past the end, rather than wrapping around to the first page
		}
	}
	rows, total, err := s.db.ListWorkflows(ctx, filter, page)
	if err != nil {
		return nil, err
	}
	out := &PaginatedResults[WorkflowRecordListItemWithThumbnailDTO]{Page: q.Page, Total: total,
		Items: make([]WorkflowRecordListItemWithThumbnailDTO, 0, len(rows))}
	if perPage > 0 {
		out.PerPage, out.Pages = perPage, total/perPage
		if total%perPage > 0 {
			out.Pages++
		}
	} else {
		out.PerPage, out.Pages = total, 1
	}
	for i := range rows {
		w := &rows[i]
		out.Items = append(out.Items, WorkflowRecordListItemWithThumbnailDTO{WorkflowID: w.WorkflowID, Name: w.Name,
			CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, OpenedAt: w.OpenedAt, UserID: w.UserID, IsPublic: w.IsPublic,
			Description: w.Description, Category: w.Category, Tags: w.Tags, ThumbnailURL: s.thumbnailURL(w.WorkflowID)})
	}
	return out, nil
}

// Tags lists the distinct tags of the workflows the caller sees, sorted.
func (s *Service) Tags(ctx context.Context, p access.Principal, categories []string, isPublic *bool) ([]string, error) {
	strs, err := s.db.WorkflowTagStrings(ctx, store.WorkflowFilter{Categories: categories, IsPublic: isPublic,
		Access: listAccess(p, includesUser(categories, true), isPublic)})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []string{}
	for _, s := range strs {
		for _, t := range strings.Split(s, ",") {
			if t = strings.TrimSpace(t); t != "" && !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// CountsByTag counts, for each tag, the workflows the caller sees whose tags contain it.
func (s *Service) CountsByTag(ctx context.Context, p access.Principal, tags, categories []string, hasBeenOpened, isPublic *bool) (map[string]int, error) {
	base := store.WorkflowFilter{Categories: categories, HasBeenOpened: hasBeenOpened, IsPublic: isPublic,
		Access: listAccess(p, includesUser(categories, true), isPublic)}
	out := map[string]int{}
	for _, tag := range tags {
		f := base
		f.Tags = []string{tag}
		n, err := s.db.CountWorkflows(ctx, f)
		if err != nil {
			return nil, err
		}
		out[tag] = n
	}
	return out, nil
}

// CountsByCategory counts the workflows the caller sees in each category.
func (s *Service) CountsByCategory(ctx context.Context, p access.Principal, categories []string, hasBeenOpened, isPublic *bool) (map[string]int, error) {
	// Here an empty list does not mean "all": InvokeAI scopes only when "user" is named.
	scope := listAccess(p, includesUser(categories, false), isPublic)
	out := map[string]int{}
	for _, c := range categories {
		n, err := s.db.CountWorkflows(ctx, store.WorkflowFilter{Categories: []string{c}, HasBeenOpened: hasBeenOpened,
			IsPublic: isPublic, Access: scope})
		if err != nil {
			return nil, err
		}
		out[c] = n
	}
	return out, nil
}
