package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/workflows"
)

var workflowTags = []string{"workflows"}

// MaxWorkflowBody bounds a workflow upload; InvokeAI's largest library workflows are a few hundred KiB.
const MaxWorkflowBody = 10 << 20

// workflowBody is {"workflow": ...}: InvokeAI embeds the workflow under its parameter name. The workflow is
// kept raw so that it is stored exactly as sent; workflows.Validate* check it.
type workflowBody struct {
	Workflow json.RawMessage `json:"workflow" description:"The workflow (InvokeAI's workflow JSON)"`
}

type isPublicBody struct {
	IsPublic bool `json:"is_public" description:"Whether the workflow should be shared with all users"`
}

type workflowIDParam struct {
	WorkflowID string `path:"workflow_id"`
}

// WorkflowRoutes are /api/v1/workflows/*.
func WorkflowRoutes(svc *workflows.Service) []Route {
	const p = "/api/v1/workflows"
	return []Route{
		JSON(Op{Method: http.MethodPost, Path: p + "/", Summary: "Create Workflow", ID: "create_workflow", Tags: workflowTags,
			Policy: access.LoggedIn, MaxBody: MaxWorkflowBody},
			func(c *Call, in *struct {
				Body workflowBody `body:"json"`
			}) (*workflows.WorkflowRecordDTO, error) {
				wf, err := workflows.ValidateWithoutID(in.Body.Workflow, "body", "workflow")
				if err != nil {
					return nil, err
				}
				return svc.Create(c.Context(), c.Principal, wf)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/", Summary: "List Workflows", ID: "list_workflows", Tags: workflowTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				Page          int                   `query:"page" default:"0" ge:"0" description:"The page to get"`
				PerPage       *int                  `query:"per_page" ge:"0" description:"The number of workflows per page (absent: all)"`
				OrderBy       WorkflowRecordOrderBy `query:"order_by" default:"name" description:"The attribute to order by"`
				Direction     SQLiteDirection       `query:"direction" default:"ASC" description:"The direction to order by"`
				Categories    []WorkflowCategory    `query:"categories" description:"The categories of workflow to get"`
				Tags          []string              `query:"tags" description:"The tags of workflow to get"`
				Query         string                `query:"query" description:"The text to query by (matches name, description and tags)"`
				HasBeenOpened *bool                 `query:"has_been_opened" description:"Whether to include/exclude recent workflows"`
				IsPublic      *bool                 `query:"is_public" description:"Filter by public/shared status"`
			}) (*workflows.PaginatedResults[workflows.WorkflowRecordListItemWithThumbnailDTO], error) {
				return svc.List(c.Context(), c.Principal, workflows.ListQuery{
					Page: in.Page, PerPage: in.PerPage, OrderBy: string(in.OrderBy), Descending: in.Direction == "DESC",
					Categories: strs(in.Categories), Tags: in.Tags, Query: in.Query, HasBeenOpened: in.HasBeenOpened, IsPublic: in.IsPublic,
				})
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/i/{workflow_id}", Summary: "Get Workflow", ID: "get_workflow", Tags: workflowTags, Policy: access.LoggedIn},
			func(c *Call, in *workflowIDParam) (*workflows.WorkflowRecordWithThumbnailDTO, error) {
				return svc.Get(c.Context(), c.Principal, in.WorkflowID)
			}),
		JSON(Op{Method: http.MethodPatch, Path: p + "/i/{workflow_id}", Summary: "Update Workflow", ID: "update_workflow", Tags: workflowTags,
			Policy: access.LoggedIn, MaxBody: MaxWorkflowBody, Description: "The workflow to update is the one named by workflow.id in the body."},
			func(c *Call, in *struct {
				WorkflowID string       `path:"workflow_id"`
				Body       workflowBody `body:"json"`
			}) (*workflows.WorkflowRecordDTO, error) {
				wf, err := workflows.ValidateWithID(in.Body.Workflow, "body", "workflow")
				if err != nil {
					return nil, err
				}
				return svc.Update(c.Context(), c.Principal, wf)
			}),
		JSON(Op{Method: http.MethodDelete, Path: p + "/i/{workflow_id}", Summary: "Delete Workflow", ID: "delete_workflow", Tags: workflowTags, Policy: access.LoggedIn},
			func(c *Call, in *workflowIDParam) (any, error) {
				return nil, svc.Delete(c.Context(), c.Principal, in.WorkflowID)
			}),
		JSON(Op{Method: http.MethodPatch, Path: p + "/i/{workflow_id}/is_public", Summary: "Update Workflow Is Public", ID: "update_workflow_is_public",
			Tags: workflowTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				WorkflowID string       `path:"workflow_id"`
				Body       isPublicBody `body:"json"`
			}) (*workflows.WorkflowRecordDTO, error) {
				return svc.SetPublic(c.Context(), c.Principal, in.WorkflowID, in.Body.IsPublic)
			}),
		JSON(Op{Method: http.MethodPut, Path: p + "/i/{workflow_id}/opened_at", Summary: "Update Opened At", ID: "update_opened_at", Tags: workflowTags, Policy: access.LoggedIn},
			func(c *Call, in *workflowIDParam) (any, error) {
				return nil, svc.MarkOpened(c.Context(), c.Principal, in.WorkflowID)
			}),
		JSON(Op{Method: http.MethodPut, Path: p + "/i/{workflow_id}/thumbnail", Summary: "Set Workflow Thumbnail", ID: "set_workflow_thumbnail",
			Tags: workflowTags, Policy: access.LoggedIn, MaxBody: workflows.MaxThumbnailUpload + 1<<20},
			func(c *Call, in *struct {
				WorkflowID string `path:"workflow_id"`
				Form       struct {
					Image string `json:"image" description:"The image file to upload (PNG, JPEG or GIF)"`
				} `body:"multipart"`
			}) (any, error) {
				contentType, data, err := readUploadedImage(c.R, "image")
				if err != nil {
					return nil, err
				}
				return nil, svc.SetThumbnail(c.Context(), c.Principal, in.WorkflowID, contentType, data)
			}),
		JSON(Op{Method: http.MethodDelete, Path: p + "/i/{workflow_id}/thumbnail", Summary: "Delete Workflow Thumbnail", ID: "delete_workflow_thumbnail",
			Tags: workflowTags, Policy: access.LoggedIn},
			func(c *Call, in *workflowIDParam) (any, error) {
				return nil, svc.DeleteThumbnail(c.Context(), c.Principal, in.WorkflowID)
			}),
		Raw(Op{Method: http.MethodGet, Path: p + "/i/{workflow_id}/thumbnail", Summary: "Get Workflow Thumbnail", ID: "get_workflow_thumbnail",
			Tags: workflowTags, Policy: access.Media, Produces: "image/png",
			Description: "Authorised like the workflow itself; browsers authenticate with the media cookie set at login."},
			func(c *Call, in *workflowIDParam) error {
				f, err := svc.ThumbnailFile(c.Context(), c.Principal, in.WorkflowID)
				if err != nil {
					return err
				}
				defer f.Close()
				st, err := f.Stat()
				if err != nil {
					return err
				}
				h := c.W.Header()
				h.Set("Content-Type", "image/png")
				h.Set("Content-Disposition", `inline; filename="`+in.WorkflowID+`.png"`)
				// The URL stays the same when a thumbnail is replaced, and the bytes are per-user: revalidate
				// (cheap, via Last-Modified) rather than cache for a year in shared caches.
				h.Set("Cache-Control", "private, no-cache")
				http.ServeContent(c.W, c.R, "", st.ModTime(), f)
				return nil
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/tags", Summary: "Get All Tags", ID: "get_all_tags", Tags: workflowTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				Categories []WorkflowCategory `query:"categories" description:"The categories to include"`
				IsPublic   *bool              `query:"is_public" description:"Filter by public/shared status"`
			}) ([]string, error) {
				return svc.Tags(c.Context(), c.Principal, strs(in.Categories), in.IsPublic)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/counts_by_tag", Summary: "Get Counts By Tag", ID: "get_counts_by_tag", Tags: workflowTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				Tags          []string           `query:"tags" required:"true" description:"The tags to get counts for"`
				Categories    []WorkflowCategory `query:"categories" description:"The categories to include"`
				HasBeenOpened *bool              `query:"has_been_opened" description:"Whether to include/exclude recent workflows"`
				IsPublic      *bool              `query:"is_public" description:"Filter by public/shared status"`
			}) (map[string]int, error) {
				return svc.CountsByTag(c.Context(), c.Principal, in.Tags, strs(in.Categories), in.HasBeenOpened, in.IsPublic)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/counts_by_category", Summary: "Counts By Category", ID: "counts_by_category", Tags: workflowTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				Categories    []WorkflowCategory `query:"categories" required:"true" description:"The categories to include"`
				HasBeenOpened *bool              `query:"has_been_opened" description:"Whether to include/exclude recent workflows"`
				IsPublic      *bool              `query:"is_public" description:"Filter by public/shared status"`
			}) (map[string]int, error) {
				return svc.CountsByCategory(c.Context(), c.Principal, strs(in.Categories), in.HasBeenOpened, in.IsPublic)
			}),
	}
}

// readUploadedImage reads one file field of a multipart form (bounded by the route's body limit), returning
// its declared content type and bytes. A missing field is FastAPI's 422.
func readUploadedImage(r *http.Request, field string) (string, []byte, error) {
	missing := apperr.Invalid(apperr.ValidationItem{Type: "missing", Loc: []any{"body", field}, Msg: "Field required", Input: nil})
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return "", nil, missing
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, missing
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return "", nil, missing
		}
		if err != nil {
			return "", nil, asBodyError(err)
		}
		if part.FormName() != field || part.FileName() == "" && part.Header.Get("Content-Type") == "" {
			part.Close()
			continue
		}
		data, err := io.ReadAll(part)
		part.Close()
		if err != nil {
			return "", nil, asBodyError(err)
		}
		return part.Header.Get("Content-Type"), data, nil
	}
}

// asBodyError keeps the body-limit error (413) and turns other read failures into 400.
func asBodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return apperr.BadRequest("Could not read the multipart body").Wrap(err)
}
