package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/gallery"
)

var (
	boardTags      = []string{"boards"}
	boardImageTags = []string{"board_images"}
	imageTags      = []string{"images"}
)

// GalleryConfig is what the gallery routes need besides the service.
type GalleryConfig struct {
	// MaxUploadBytes bounds an upload request (413 beyond).
	MaxUploadBytes int64
	// Multiuser makes image responses privately cacheable only.
	Multiuser bool
}

type imageNamesBody struct {
	ImageNames []string `json:"image_names"`
}

type addImageBody struct {
	BoardID   string `json:"board_id"`
	ImageName string `json:"image_name"`
}

type removeImageBody struct {
	ImageName string `json:"image_name"`
}

type addImagesBody struct {
	BoardID    string   `json:"board_id"`
	ImageNames []string `json:"image_names"`
}

type downloadBody struct {
	ImageNames []string `json:"image_names,omitempty"`
	BoardID    *string  `json:"board_id,omitempty"`
}

type imageSizeBody struct {
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	BoardID *string `json:"board_id,omitempty"`
}

// StarredImagesResult is POST /images/star's answer.
type StarredImagesResult struct {
	StarredImages  []string `json:"starred_images"`
	AffectedBoards []string `json:"affected_boards"`
}

// UnstarredImagesResult is POST /images/unstar's answer.
type UnstarredImagesResult struct {
	UnstarredImages []string `json:"unstarred_images"`
	AffectedBoards  []string `json:"affected_boards"`
}

// imageListParams are the filters shared by GET /images and /images/names.
type imageListParams struct {
	ImageOrigin    *ResourceOrigin         `query:"image_origin"`
	Categories     []gallery.ImageCategory `query:"categories"`
	IsIntermediate *bool                   `query:"is_intermediate"`
	BoardID        *string                 `query:"board_id"`
	OrderDir       SQLiteDirection         `query:"order_dir" default:"DESC"`
	StarredFirst   bool                    `query:"starred_first" default:"true"`
	SearchTerm     *string                 `query:"search_term"`
}

// imageListPage is imageListParams plus paging (the binder reads only direct fields, so they are repeated).
type imageListPage struct {
	ImageOrigin    *ResourceOrigin         `query:"image_origin"`
	Categories     []gallery.ImageCategory `query:"categories"`
	IsIntermediate *bool                   `query:"is_intermediate"`
	BoardID        *string                 `query:"board_id"`
	OrderDir       SQLiteDirection         `query:"order_dir" default:"DESC"`
	StarredFirst   bool                    `query:"starred_first" default:"true"`
	SearchTerm     *string                 `query:"search_term"`
	Offset         int                     `query:"offset" default:"0"`
	Limit          int                     `query:"limit" default:"10"`
}

func (p imageListParams) query(offset, limit int) gallery.ListQuery {
	return gallery.ListQuery{Origin: (*string)(p.ImageOrigin), Categories: strs(p.Categories), IsIntermediate: p.IsIntermediate, BoardID: p.BoardID,
		SearchTerm: p.SearchTerm, StarredFirst: p.StarredFirst, Descending: p.OrderDir == "DESC", Offset: offset, Limit: limit}
}

type imageNameParam struct {
	ImageName string `path:"image_name"`
}

// GalleryRoutes are /api/v1/boards, /api/v1/board_images and /api/v1/images.
func GalleryRoutes(svc *gallery.Service, cfg GalleryConfig) []Route {
	routes := append(boardRoutes(svc), boardImageRoutes(svc)...)
	return append(routes, imageRoutes(svc, cfg)...)
}

func boardRoutes(svc *gallery.Service) []Route {
	const p = "/api/v1/boards"
	return []Route{
		JSON(Op{Method: http.MethodPost, Path: p + "/", Summary: "Create Board", ID: "create_board", Tags: boardTags, Policy: access.LoggedIn, Status: http.StatusCreated},
			func(c *Call, in *struct {
				BoardName string `query:"board_name" required:"true" max_length:"300"`
			}) (*gallery.BoardDTO, error) {
				return svc.CreateBoard(c.Context(), c.Principal, in.BoardName)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/", Summary: "List Boards", ID: "list_boards", Tags: boardTags, Policy: access.LoggedIn,
			Description: "With all=true, every visible board; with offset and limit, one page with the true total."},
			func(c *Call, in *struct {
				OrderBy         BoardRecordOrderBy `query:"order_by" default:"created_at"`
				Direction       SQLiteDirection    `query:"direction" default:"DESC"`
				All             *bool              `query:"all"`
				Offset          *int               `query:"offset"`
				Limit           *int               `query:"limit"`
				IncludeArchived bool               `query:"include_archived" default:"false"`
			}) (any, error) {
				q := gallery.BoardListQuery{OrderByName: in.OrderBy == "board_name", Descending: in.Direction == "DESC", IncludeArchived: in.IncludeArchived}
				switch {
				case in.All != nil && *in.All:
					items, _, err := svc.ListBoards(c.Context(), c.Principal, q)
					return items, err
				case in.Offset != nil && in.Limit != nil:
					q.Paged, q.Offset, q.Limit = true, *in.Offset, *in.Limit
					items, total, err := svc.ListBoards(c.Context(), c.Principal, q)
					if err != nil {
						return nil, err
					}
					return gallery.Page[gallery.BoardDTO]{Limit: *in.Limit, Offset: *in.Offset, Total: total, Items: items}, nil
				default:
					return nil, apperr.BadRequest("Invalid request: Must provide either 'all' or both 'offset' and 'limit'")
				}
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/{board_id}", Summary: "Get Board", ID: "get_board", Tags: boardTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				BoardID string `path:"board_id"`
			}) (*gallery.BoardDTO, error) {
				return svc.GetBoard(c.Context(), c.Principal, in.BoardID)
			}),
		JSON(Op{Method: http.MethodPatch, Path: p + "/{board_id}", Summary: "Update Board", ID: "update_board", Tags: boardTags, Policy: access.LoggedIn, Status: http.StatusCreated},
			func(c *Call, in *struct {
				BoardID string               `path:"board_id"`
				Body    gallery.BoardChanges `body:"json,forbid"`
			}) (*gallery.BoardDTO, error) {
				return svc.UpdateBoard(c.Context(), c.Principal, in.BoardID, in.Body)
			}),
		JSON(Op{Method: http.MethodDelete, Path: p + "/{board_id}", Summary: "Delete Board", ID: "delete_board", Tags: boardTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				BoardID       string `path:"board_id"`
				IncludeImages bool   `query:"include_images" default:"false"`
			}) (*gallery.DeleteBoardResult, error) {
				return svc.DeleteBoard(c.Context(), c.Principal, in.BoardID, in.IncludeImages)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/{board_id}/image_names", Summary: "List All Board Image Names", ID: "list_all_board_image_names", Tags: boardTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				BoardID        string                  `path:"board_id"`
				Categories     []gallery.ImageCategory `query:"categories"`
				IsIntermediate *bool                   `query:"is_intermediate"`
			}) ([]string, error) {
				return svc.BoardImageNames(c.Context(), c.Principal, in.BoardID, strs(in.Categories), in.IsIntermediate)
			}),
	}
}

func boardImageRoutes(svc *gallery.Service) []Route {
	const p = "/api/v1/board_images"
	return []Route{
		JSON(Op{Method: http.MethodPost, Path: p + "/", Summary: "Add Image To Board", ID: "add_image_to_board", Tags: boardImageTags, Policy: access.LoggedIn, Status: http.StatusCreated},
			func(c *Call, in *struct {
				Body addImageBody `body:"json"`
			}) (*gallery.AddImagesResult, error) {
				return svc.AddImageToBoard(c.Context(), c.Principal, in.Body.BoardID, in.Body.ImageName)
			}),
		JSON(Op{Method: http.MethodDelete, Path: p + "/", Summary: "Remove Image From Board", ID: "remove_image_from_board", Tags: boardImageTags, Policy: access.LoggedIn, Status: http.StatusCreated},
			func(c *Call, in *struct {
				Body removeImageBody `body:"json"`
			}) (*gallery.RemoveImagesResult, error) {
				return svc.RemoveImageFromBoard(c.Context(), c.Principal, in.Body.ImageName)
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/batch", Summary: "Add Images To Board", ID: "add_images_to_board", Tags: boardImageTags, Policy: access.LoggedIn, Status: http.StatusCreated},
			func(c *Call, in *struct {
				Body addImagesBody `body:"json"`
			}) (*gallery.AddImagesResult, error) {
				return svc.AddImagesToBoard(c.Context(), c.Principal, in.Body.BoardID, in.Body.ImageNames)
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/batch/delete", Summary: "Remove Images From Board", ID: "remove_images_from_board", Tags: boardImageTags, Policy: access.LoggedIn, Status: http.StatusCreated},
			func(c *Call, in *struct {
				Body imageNamesBody `body:"json"`
			}) (*gallery.RemoveImagesResult, error) {
				return svc.RemoveImagesFromBoards(c.Context(), c.Principal, in.Body.ImageNames)
			}),
	}
}

func imageRoutes(svc *gallery.Service, cfg GalleryConfig) []Route {
	const p = "/api/v1/images"
	cacheControl := "max-age=31536000"
	if cfg.Multiuser {
		// Who may read an image can change (board visibility), so shared caches must never keep it.
		cacheControl = "private, max-age=31536000"
	}
	serveImage := func(thumbnail bool) func(c *Call, in *imageNameParam) error {
		return func(c *Call, in *imageNameParam) error {
			f, err := svc.OpenImageFile(c.Context(), c.Principal, in.ImageName, thumbnail)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("stat image: %w", err)
			}
			h := c.W.Header()
			h.Set("Cache-Control", cacheControl)
			if thumbnail {
				// InvokeAI's thumbnail FileResponse names no file: a ".png" name on WebP bytes would mislead.
				h.Set("Content-Type", "image/webp")
			} else {
				h.Set("Content-Type", "image/png")
				h.Set("Content-Disposition", `inline; filename="`+in.ImageName+`"`)
			}
			http.ServeContent(c.W, c.R, "", st.ModTime(), f)
			return nil
		}
	}
	return []Route{
		JSON(Op{Method: http.MethodPost, Path: p + "/upload", Summary: "Upload Image", ID: "upload_image", Tags: imageTags, Policy: access.LoggedIn,
			Status: http.StatusCreated, MaxBody: cfg.MaxUploadBytes,
			Description: "Multipart form: file, and optionally resize_to ({\"width\",\"height\"} as JSON) and metadata (a JSON object)."},
			func(c *Call, in *struct {
				ImageCategory  gallery.ImageCategory `query:"image_category" required:"true"`
				IsIntermediate bool                  `query:"is_intermediate" required:"true"`
				BoardID        *string               `query:"board_id"`
				SessionID      *string               `query:"session_id"`
				CropVisible    bool                  `query:"crop_visible" default:"false"`
				Form           struct{}              `body:"multipart"`
			}) (*gallery.ImageDTO, error) {
				up, err := readUploadForm(c.R)
				if err != nil {
					return nil, err
				}
				up.CropVisible = in.CropVisible
				dto, err := svc.UploadImage(c.Context(), c.Principal, gallery.UploadRequest{
					Upload: up, Category: string(in.ImageCategory), IsIntermediate: in.IsIntermediate, BoardID: in.BoardID, SessionID: in.SessionID,
				})
				if err != nil {
					return nil, err
				}
				c.W.Header().Set("Location", dto.ImageURL)
				return dto, nil
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/", Summary: "Create Image", ID: "create_image", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				Body imageSizeBody `body:"json"`
			}) (any, error) {
				return nil, apperr.New(http.StatusNotImplemented, "Not implemented")
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/", Summary: "List Image Dtos", ID: "list_image_dtos", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *imageListPage) (*gallery.Page[gallery.ImageDTO], error) {
				q := imageListParams{in.ImageOrigin, in.Categories, in.IsIntermediate, in.BoardID, in.OrderDir, in.StarredFirst, in.SearchTerm}
				return svc.ListImages(c.Context(), c.Principal, q.query(in.Offset, in.Limit))
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/names", Summary: "Get Image Names", ID: "get_image_names", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *imageListParams) (*gallery.ImageNamesResult, error) {
				return svc.ImageNames(c.Context(), c.Principal, in.query(0, 0))
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/images_by_names", Summary: "Get Images By Names", ID: "get_images_by_names", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				Body imageNamesBody `body:"json"`
			}) ([]gallery.ImageDTO, error) {
				return svc.ImagesByNames(c.Context(), c.Principal, in.Body.ImageNames)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/i/{image_name}", Summary: "Get Image Dto", ID: "get_image_dto", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *imageNameParam) (*gallery.ImageDTO, error) {
				return svc.GetImage(c.Context(), c.Principal, in.ImageName)
			}),
		JSON(Op{Method: http.MethodPatch, Path: p + "/i/{image_name}", Summary: "Update Image", ID: "update_image", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				ImageName string               `path:"image_name"`
				Body      gallery.ImageChanges `body:"json"`
			}) (*gallery.ImageDTO, error) {
				return svc.UpdateImage(c.Context(), c.Principal, in.ImageName, in.Body)
			}),
		JSON(Op{Method: http.MethodDelete, Path: p + "/i/{image_name}", Summary: "Delete Image", ID: "delete_image", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *imageNameParam) (*gallery.DeleteImagesResult, error) {
				return svc.DeleteImage(c.Context(), c.Principal, in.ImageName)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/i/{image_name}/metadata", Summary: "Get Image Metadata", ID: "get_image_metadata", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *imageNameParam) (json.RawMessage, error) {
				return svc.GetMetadata(c.Context(), c.Principal, in.ImageName)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/i/{image_name}/workflow", Summary: "Get Image Workflow", ID: "get_image_workflow", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *imageNameParam) (*gallery.WorkflowAndGraph, error) {
				return svc.GetWorkflow(c.Context(), c.Principal, in.ImageName)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/i/{image_name}/urls", Summary: "Get Image Urls", ID: "get_image_urls", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *imageNameParam) (*gallery.ImageURLs, error) {
				return svc.GetURLs(c.Context(), c.Principal, in.ImageName)
			}),
		// GET patterns answer HEAD too.
		Raw(Op{Method: http.MethodGet, Path: p + "/i/{image_name}/full", Summary: "Get Image Full", ID: "get_image_full", Tags: imageTags, Policy: access.Media, Produces: "image/png"},
			serveImage(false)),
		Raw(Op{Method: http.MethodGet, Path: p + "/i/{image_name}/thumbnail", Summary: "Get Image Thumbnail", ID: "get_image_thumbnail", Tags: imageTags, Policy: access.Media, Produces: "image/webp"},
			serveImage(true)),
		JSON(Op{Method: http.MethodGet, Path: p + "/intermediates", Summary: "Get Intermediates Count", ID: "get_intermediates_count", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, _ *NoInput) (int, error) { return svc.IntermediatesCount(c.Context(), c.Principal) }),
		JSON(Op{Method: http.MethodDelete, Path: p + "/intermediates", Summary: "Clear Intermediates", ID: "clear_intermediates", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, _ *NoInput) (int, error) { return svc.ClearIntermediates(c.Context(), c.Principal) }),
		JSON(Op{Method: http.MethodPost, Path: p + "/delete", Summary: "Delete Images From List", ID: "delete_images_from_list", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				Body imageNamesBody `body:"json"`
			}) (*gallery.DeleteImagesResult, error) {
				return svc.DeleteImages(c.Context(), c.Principal, in.Body.ImageNames)
			}),
		JSON(Op{Method: http.MethodDelete, Path: p + "/uncategorized", Summary: "Delete Uncategorized Images", ID: "delete_uncategorized_images", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, _ *NoInput) (*gallery.DeleteImagesResult, error) {
				return svc.DeleteUncategorized(c.Context(), c.Principal)
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/star", Summary: "Star Images In List", ID: "star_images_in_list", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				Body imageNamesBody `body:"json"`
			}) (*StarredImagesResult, error) {
				res, err := svc.SetStarred(c.Context(), c.Principal, in.Body.ImageNames, true)
				if err != nil {
					return nil, err
				}
				return &StarredImagesResult{StarredImages: res.Images, AffectedBoards: res.AffectedBoards}, nil
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/unstar", Summary: "Unstar Images In List", ID: "unstar_images_in_list", Tags: imageTags, Policy: access.LoggedIn},
			func(c *Call, in *struct {
				Body imageNamesBody `body:"json"`
			}) (*UnstarredImagesResult, error) {
				res, err := svc.SetStarred(c.Context(), c.Principal, in.Body.ImageNames, false)
				if err != nil {
					return nil, err
				}
				return &UnstarredImagesResult{UnstarredImages: res.Images, AffectedBoards: res.AffectedBoards}, nil
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/download", Summary: "Download Images From List", ID: "download_images_from_list", Tags: imageTags, Policy: access.LoggedIn, Status: http.StatusAccepted},
			func(c *Call, in *struct {
				Body downloadBody `body:"json"`
			}) (*gallery.DownloadStarted, error) {
				return svc.StartBulkDownload(c.Context(), c.Principal, in.Body.ImageNames, in.Body.BoardID)
			}),
		Raw(Op{Method: http.MethodGet, Path: p + "/download/{bulk_download_item_name}", Summary: "Get Bulk Download Item", ID: "get_bulk_download_item", Tags: imageTags, Policy: access.LoggedIn, Produces: "application/zip"},
			func(c *Call, in *struct {
				Item string `path:"bulk_download_item_name"`
			}) error {
				peek := c.R.Method == http.MethodHead
				f, err := svc.OpenDownload(c.Context(), c.Principal, in.Item, peek)
				if err != nil {
					return err
				}
				defer f.Close()
				if !peek {
					defer svc.FinishDownload(in.Item)
				}
				st, err := f.Stat()
				if err != nil {
					return fmt.Errorf("stat zip: %w", err)
				}
				h := c.W.Header()
				h.Set("Content-Type", "application/zip")
				h.Set("Cache-Control", cacheControl)
				h.Set("Content-Disposition", `inline; filename="`+in.Item+`"`)
				http.ServeContent(c.W, c.R, "", st.ModTime(), f)
				return nil
			}),
	}
}

// maxFormValue bounds resize_to and metadata form values.
const maxFormValue = 16 << 20

// readUploadForm streams the multipart body: the "file" part into memory (the request body is already
// bounded by the route's MaxBody) and the small form values. It writes nothing to disk.
func readUploadForm(r *http.Request) (gallery.Upload, error) {
	var up gallery.Upload
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return up, apperr.Invalid(apperr.ValidationItem{Type: "missing", Loc: []any{"body", "file"}, Msg: "Field required"})
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return up, apperr.BadRequest("Invalid multipart body")
	}
	haveFile := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return up, uploadReadError(err)
		}
		switch part.FormName() {
		case "file":
			if haveFile {
				continue
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return up, uploadReadError(err)
			}
			up.Data, up.ContentType, haveFile = data, part.Header.Get("Content-Type"), true
		case "resize_to", "metadata":
			b, err := io.ReadAll(io.LimitReader(part, maxFormValue+1))
			if err != nil {
				return up, uploadReadError(err)
			}
			if len(b) > maxFormValue {
				return up, apperr.TooLarge("Form value too large")
			}
			v := string(b)
			if part.FormName() == "resize_to" {
				up.ResizeTo = v
			} else {
				up.Metadata = &v
			}
		}
		part.Close()
	}
	if !haveFile {
		return up, apperr.Invalid(apperr.ValidationItem{Type: "missing", Loc: []any{"body", "file"}, Msg: "Field required"})
	}
	return up, nil
}

func uploadReadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apperr.TooLarge("Request body too large")
	}
	return apperr.BadRequest("Invalid multipart body").Wrap(err)
}
