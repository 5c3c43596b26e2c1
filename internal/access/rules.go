package access

import "fmt"

// Board visibilities (PR #9018).
const (
	VisibilityPrivate = "private"
	VisibilityShared  = "shared"
	VisibilityPublic  = "public"
)

// BoardRef is what the rules need to know about a board.
type BoardRef struct {
	OwnerID    string
	Visibility string
}

func (b BoardRef) readableByAll() bool {
	return b.Visibility == VisibilityShared || b.Visibility == VisibilityPublic
}

// ReadBoard: admins, the owner, and everyone for shared and public boards.
func ReadBoard(p Principal, b BoardRef) error {
	if p.IsAdmin || p.Owns(b.OwnerID) || b.readableByAll() {
		return nil
	}
	return forbidden("Not authorized to access this board")
}

// ModifyBoardImages: adding or removing images on a board. Admins, the owner, and everyone for public boards.
func ModifyBoardImages(p Principal, b BoardRef) error {
	if p.IsAdmin || p.Owns(b.OwnerID) || b.Visibility == VisibilityPublic {
		return nil
	}
	return forbidden("Not authorized to modify this board")
}

// UploadToBoard: the same rule as ModifyBoardImages, with InvokeAI's message for uploads.
func UploadToBoard(p Principal, b BoardRef) error {
	if ModifyBoardImages(p, b) == nil {
		return nil
	}
	return forbidden("Not authorized to upload to this board")
}

// WriteToBoard is the rule for any other place a board id is accepted, generated images included (docs/security.md D8).
func WriteToBoard(p Principal, b BoardRef) error {
	if ModifyBoardImages(p, b) == nil {
		return nil
	}
	return forbidden("Not authorized to write to this board")
}

// UpdateBoard: rename, archive, visibility, cover. Admins and the owner only, even for public boards.
func UpdateBoard(p Principal, b BoardRef) error {
	if p.IsAdmin || p.Owns(b.OwnerID) {
		return nil
	}
	return forbidden("Not authorized to update this board")
}

// DeleteBoard: admins and the owner only.
func DeleteBoard(p Principal, b BoardRef) error {
	if p.IsAdmin || p.Owns(b.OwnerID) {
		return nil
	}
	return forbidden("Not authorized to delete this board")
}

// BoardListFilter keeps the boards a caller sees in listings: admins all, others their own plus shared and
// public ones. boardAlias is the SQL alias of the boards table.
func BoardListFilter(p Principal, boardAlias string) Filter {
	if p.IsAdmin {
		return All
	}
	return Filter{
		SQL:  fmt.Sprintf("%[1]s.user_id = ? OR %[1]s.board_visibility IN ('shared', 'public')", boardAlias),
		Args: []any{p.UserID},
	}
}

// ImageRef is what the rules need to know about an image: its owner and the board holding it, if any.
type ImageRef struct {
	OwnerID string
	Board   *BoardRef
}

// The image-read rule (docs/security.md §5.2) is the one rule for every path that reveals an image, its
// thumbnail, metadata, name or existence: admins, the image's owner, and everyone when the image sits on a shared
// or public board. Owning the (private) board an image sits on does not grant reading someone else's image.
// ReadImage is its check on one image; ImageReadFilter and ImageHiddenFilter are the same rule compiled to SQL
// for listings, counts and covers, and rules_test.go holds the three forms equal on every combination.

// ReadImage: the image-read rule on one image.
func ReadImage(p Principal, img ImageRef) error {
	if p.IsAdmin || p.Owns(img.OwnerID) || (img.Board != nil && img.Board.readableByAll()) {
		return nil
	}
	return forbidden("Not authorized to access this image")
}

// readableVisibilitiesSQL is readableByAll as a SQL list.
const readableVisibilitiesSQL = "('" + VisibilityShared + "', '" + VisibilityPublic + "')"

// ImageReadFilter keeps the images a caller may read. imageAlias and boardAlias name the images table and its
// board, LEFT JOINed (an image on no board has a NULL visibility, which the IN leaves out).
func ImageReadFilter(p Principal, imageAlias, boardAlias string) Filter {
	if p.IsAdmin {
		return All
	}
	onReadableBoard := fmt.Sprintf("%s.board_visibility IN %s", boardAlias, readableVisibilitiesSQL)
	if !p.Authenticated || p.UserID == "" {
		return Filter{SQL: onReadableBoard, ReadsBoard: true}
	}
	return Filter{SQL: fmt.Sprintf("%s.user_id = ? OR %s", imageAlias, onReadableBoard), Args: []any{p.UserID}, ReadsBoard: true}
}

// ImageHiddenFilter is the complement of ImageReadFilter: the images hidden from p are those where OnBoard
// holds and one of the Image alternatives does. OnBoard reads only the board, and is false for most boards;
// each Image alternative is a range of owners, which an index on (board_id, user_id) finds on its own without
// visiting the readable images (so counts subtract the hidden images from a board's kept totals cheaply).
func ImageHiddenFilter(p Principal, imageAlias, boardAlias string) HiddenImages {
	if p.IsAdmin {
		return HiddenImages{OnBoard: Filter{SQL: "0=1"}}
	}
	onBoard := Filter{SQL: fmt.Sprintf("COALESCE(%s.board_visibility, '%s') NOT IN %s", boardAlias, VisibilityPrivate, readableVisibilitiesSQL),
		ReadsBoard: true}
	if !p.Authenticated || p.UserID == "" {
		return HiddenImages{OnBoard: onBoard, Image: []Filter{All}}
	}
	return HiddenImages{OnBoard: onBoard, Image: []Filter{
		{SQL: imageAlias + ".user_id < ?", Args: []any{p.UserID}},
		{SQL: imageAlias + ".user_id > ?", Args: []any{p.UserID}},
	}}
}

// HiddenImages is ImageHiddenFilter's answer.
type HiddenImages struct {
	OnBoard Filter
	// Image lists alternatives: an image is hidden when any of them holds.
	Image []Filter
}

// ImageReadFilterOnBoard is the image-read rule for the images of one board, already loaded, as a filter on
// imageAlias alone (no join): the board's part of the rule is decided here. A board that cannot hide images
// from p keeps every row.
func ImageReadFilterOnBoard(p Principal, b BoardRef, imageAlias string) Filter {
	if !BoardMayHideImages(p, b) {
		return All
	}
	if !p.Authenticated || p.UserID == "" {
		return Filter{SQL: "0=1"}
	}
	return Filter{SQL: imageAlias + ".user_id = ?", Args: []any{p.UserID}}
}

// BoardMayHideImages reports whether some image on board b could be unreadable to p: false for admins and
// for shared and public boards, whose listings then need no per-image filter.
func BoardMayHideImages(p Principal, b BoardRef) bool {
	return ReadImage(p, ImageRef{OwnerID: "\x00someone else", Board: &b}) != nil
}

// ModifyImage: change, star, delete. Admins, the image's owner, the owner of its board, and anyone when the
// board is public.
func ModifyImage(p Principal, img ImageRef) error {
	if p.IsAdmin || p.Owns(img.OwnerID) {
		return nil
	}
	if img.Board != nil && (p.Owns(img.Board.OwnerID) || img.Board.Visibility == VisibilityPublic) {
		return nil
	}
	return forbidden("Not authorized to modify this image")
}

// MoveImage: putting an image on a board needs direct ownership, so that nobody can put a victim's image on
// their own board and then gain the board owner's rights over it.
func MoveImage(p Principal, img ImageRef) error {
	if p.IsAdmin || p.Owns(img.OwnerID) {
		return nil
	}
	return forbidden("Not authorized to move this image")
}

// UnscopedImageListFilter is used by image listings without a board: non-admins see only their own images
// (docs/security.md D7), admins see all.
func UnscopedImageListFilter(p Principal, imageAlias string) Filter {
	return OwnedBy(p, imageAlias+".user_id")
}

// ClearAllIntermediates is admin-only.
func ClearAllIntermediates(p Principal) error {
	if p.IsAdmin {
		return nil
	}
	return forbidden("Only admins can clear all intermediates")
}

// Workflows and style presets are the same kind of resource: a user's own, which the owner may share, beside
// built-in ones that ship with the binary. One rule reads them and one changes them; the resources differ only
// in their words.

// readLibraryItem: admins, the owner, shared items and built-in ones.
func readLibraryItem(p Principal, ownerID string, shared, builtin bool, refusal string) error {
	if p.IsAdmin || p.Owns(ownerID) || shared || builtin {
		return nil
	}
	return forbidden(refusal)
}

// changeLibraryItem: admins and the owner; built-in items by nobody. Non-owners hear notAuthorized even for
// built-in items (their owner is system), owners and admins learn why instead.
func changeLibraryItem(p Principal, ownerID string, builtin bool, notAuthorized, builtinRefusal string) error {
	if !p.IsAdmin && !p.Owns(ownerID) {
		return forbidden(notAuthorized)
	}
	if builtin {
		return forbidden(builtinRefusal)
	}
	return nil
}

// Workflow categories.
const (
	CategoryUser    = "user"
	CategoryDefault = "default"
)

// WorkflowRef is what the rules need to know about a workflow.
type WorkflowRef struct {
	OwnerID  string
	IsPublic bool
	Category string
}

// ReadWorkflow: admins, the owner, shared workflows and built-in defaults.
func ReadWorkflow(p Principal, w WorkflowRef) error {
	return readLibraryItem(p, w.OwnerID, w.IsPublic, w.Category == CategoryDefault, "Not authorized to access this workflow")
}

// CreateWorkflow: anyone may create workflows of their own, but nobody can add to the built-in default
// library through the API (defaults ship with the binary).
func CreateWorkflow(p Principal, category string) error {
	if category == CategoryDefault {
		return forbidden("Default workflows cannot be created")
	}
	return nil
}

// ChangeWorkflow: update, delete, share, thumbnail. Admins and the owner; built-in defaults are changeable by
// nobody. action is "update", "delete" or "modify" for the message. Non-owners hear InvokeAI's "Not authorized"
// message even for defaults (their owner is system), owners and admins learn why instead.
func ChangeWorkflow(p Principal, w WorkflowRef, action string) error {
	return changeLibraryItem(p, w.OwnerID, w.Category == CategoryDefault, fmt.Sprintf("Not authorized to %s this workflow", action),
		"Default workflows cannot be modified")
}

// MarkWorkflowOpened: recording when a workflow was opened (the library's "recent" view). Admins and the owner,
// as in InvokeAI; defaults included for admins, since opening one changes nothing in it.
func MarkWorkflowOpened(p Principal, w WorkflowRef) error {
	if p.IsAdmin || p.Owns(w.OwnerID) {
		return nil
	}
	return forbidden("Not authorized to update this workflow")
}

// WorkflowListFilter keeps the workflows a caller sees: admins all; others their own, the defaults, and
// shared ones. aliasless columns are used because the workflow_library queries have one table.
func WorkflowListFilter(p Principal) Filter {
	if p.IsAdmin {
		return All
	}
	return Filter{SQL: "user_id = ? OR category = 'default' OR is_public", Args: []any{p.UserID}}
}

// WorkflowLibraryScope narrows a listing to the caller's own library (their workflows plus the defaults),
// which InvokeAI applies unless shared workflows are asked for explicitly. Admins are not narrowed: they list
// every workflow, so they can manage everyone's (InvokeAI HEAD).
func WorkflowLibraryScope(p Principal) Filter {
	if p.IsAdmin {
		return All
	}
	return Filter{SQL: "user_id = ? OR category = 'default'", Args: []any{p.UserID}}
}

// Style preset types.
const (
	PresetTypeUser    = "user"
	PresetTypeDefault = "default"
)

// StylePresetRef is what the rules need to know about a style preset.
type StylePresetRef struct {
	OwnerID  string
	IsPublic bool
	Type     string
}

// ReadStylePreset: admins, the owner, shared presets and the built-in ones; its image follows the same rule.
func ReadStylePreset(p Principal, s StylePresetRef) error {
	return readLibraryItem(p, s.OwnerID, s.IsPublic, s.Type == PresetTypeDefault, "Not authorized to access this style preset")
}

// CreateStylePreset: anyone may make presets of their own; the built-in ones ship with the binary and are
// rewritten at every start, so nobody adds to them through the API.
func CreateStylePreset(p Principal, presetType string) error {
	if presetType == PresetTypeDefault {
		return forbidden("Default style presets cannot be created")
	}
	return nil
}

// ChangeStylePreset: update, delete, image. Admins and the owner; built-in presets are changeable by nobody.
// Non-owners hear "Not authorized" even for built-in presets (their owner is system).
func ChangeStylePreset(p Principal, s StylePresetRef) error {
	return changeLibraryItem(p, s.OwnerID, s.Type == PresetTypeDefault, "Not authorized to modify this style preset",
		"Default style presets cannot be modified")
}

// StylePresetListFilter keeps the presets a caller sees: admins all; others their own, the built-in ones and
// shared ones.
func StylePresetListFilter(p Principal) Filter {
	if p.IsAdmin {
		return All
	}
	return Filter{SQL: "user_id = ? OR type = 'default' OR is_public", Args: []any{p.UserID}}
}

// StylePresetExportScope keeps the presets an export covers: the caller's own (admins: everyone's); the
// caller leaves out the built-in ones.
func StylePresetExportScope(p Principal) Filter { return OwnedBy(p, "user_id") }

// QueueItemRef is what the rules need to know about a queue item.
type QueueItemRef struct {
	OwnerID string
}

// SeeQueueItem reports whether the caller sees the item in full; others get a sanitised copy.
func SeeQueueItem(p Principal, q QueueItemRef) bool { return p.IsAdmin || p.Owns(q.OwnerID) }

// QueueItemVisibleFilter is SeeQueueItem in SQL: the rows the caller sees in full. Listings read the other rows'
// graphs, workflows, values, errors and names not at all: the store redacts them in the query, so a listing
// costs what the caller may see, not what other users enqueued.
func QueueItemVisibleFilter(p Principal, ownerColumn string) Filter {
	if p.IsAdmin {
		return All
	}
	if !p.Authenticated || p.UserID == "" {
		return Filter{SQL: "0=1"}
	}
	return Filter{SQL: ownerColumn + " = ?", Args: []any{p.UserID}}
}

// CancelQueueItem: admins and the owner.
func CancelQueueItem(p Principal, q QueueItemRef) error {
	if SeeQueueItem(p, q) {
		return nil
	}
	return forbidden("You do not have permission to cancel this queue item")
}

// DeleteQueueItem: admins and the owner.
func DeleteQueueItem(p Principal, q QueueItemRef) error {
	if SeeQueueItem(p, q) {
		return nil
	}
	return forbidden("You do not have permission to delete this queue item")
}

// RetryQueueItem: admins and the owner.
func RetryQueueItem(p Principal, q QueueItemRef, itemID int64) error {
	if SeeQueueItem(p, q) {
		return nil
	}
	return forbidden(fmt.Sprintf("You do not have permission to retry queue item %d", itemID))
}

// CancelCurrentQueueItem: clearing a queue cancels the running item, which needs its owner or an admin.
func CancelCurrentQueueItem(p Principal, q QueueItemRef) error {
	if SeeQueueItem(p, q) {
		return nil
	}
	return forbidden("You do not have permission to cancel the currently executing queue item")
}

// QueueScopeFilter keeps the queue rows a bulk operation may touch: admins all, others their own.
func QueueScopeFilter(p Principal, ownerColumn string) Filter { return OwnedBy(p, ownerColumn) }

// ReadDownload: a bulk-download zip is served to its owner or an admin.
func ReadDownload(p Principal, ownerID string) error {
	if p.IsAdmin || p.Owns(ownerID) {
		return nil
	}
	return forbidden("Not authorized to access this download")
}

// ManageUsers: user administration is admin-only.
func ManageUsers(p Principal) error { return RequireAdmin(p) }

// ManageModels: every model-manager change is admin-only (docs/security.md D1).
func ManageModels(p Principal) error { return RequireAdmin(p) }

// ManageProcessor: pausing and resuming the queue processor is admin-only.
func ManageProcessor(p Principal) error { return RequireAdmin(p) }
