package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/stylepresets"
)

var stylePresetTags = []string{"style_presets"}

// Body_create_style_preset documents the multipart body of create (and, as Body_update_style_preset, of update):
// "data" is a JSON string {name, positive_prompt, negative_prompt, type[, is_public]}, "image" an optional image
// file. The names are InvokeAI's schema's.
type Body_create_style_preset struct {
	Image *string `json:"image,omitempty" description:"The image file to upload"`
	Data  string  `json:"data" description:"The data of the style preset (a JSON object: name, positive_prompt, negative_prompt, type, optional is_public)"`
}

// Body_update_style_preset is the multipart body of update.
type Body_update_style_preset Body_create_style_preset

// Body_import_style_presets is the multipart body of import.
type Body_import_style_presets struct {
	File string `json:"file" description:"The file to import"`
}

type stylePresetIDParam struct {
	StylePresetID string `path:"style_preset_id" description:"The style preset"`
}

// maxStylePresetData bounds the "data" field (two prompts and a name, with room for JSON escapes).
const maxStylePresetData = 1 << 20

// StylePresetRoutes are /api/v1/style_presets/*.
func StylePresetRoutes(svc *stylepresets.Service) []Route {
	const p = "/api/v1/style_presets"
	formBody := int64(stylepresets.MaxImageUpload + maxStylePresetData + 64<<10)
	readPresetForm := func(c *Call) (*stylepresets.FormData, *stylepresets.Upload, error) {
		form, err := readMultipart(c.R, map[string]int64{"data": maxStylePresetData}, "image")
		if err != nil {
			return nil, nil, err
		}
		data, ok := form.values["data"]
		if !ok {
			return nil, nil, apperr.Invalid(apperr.ValidationItem{Type: "missing", Loc: []any{"body", "data"}, Msg: "Field required", Input: nil})
		}
		fd, err := stylepresets.ParseFormData(data)
		if err != nil {
			return nil, nil, err
		}
		var img *stylepresets.Upload
		if form.file != nil {
			img = &stylepresets.Upload{ContentType: form.file.contentType, Data: form.file.data}
		}
		return fd, img, nil
	}
	return []Route{
		JSON(Op{Method: http.MethodGet, Path: p + "/", Summary: "List Style Presets", ID: "list_style_presets", Tags: stylePresetTags, Policy: access.LoggedIn,
			Description: "The presets the caller sees: their own, shared ones and the built-in ones (admins: all), by name."},
			func(c *Call, _ *NoInput) ([]stylepresets.StylePresetRecordWithImage, error) {
				return svc.List(c.Context(), c.Principal)
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/", Summary: "Create Style Preset", ID: "create_style_preset", Tags: stylePresetTags,
			Policy: access.LoggedIn, MaxBody: formBody},
			func(c *Call, _ *struct {
				Form Body_create_style_preset `body:"multipart"`
			}) (*stylepresets.StylePresetRecordWithImage, error) {
				fd, img, err := readPresetForm(c)
				if err != nil {
					return nil, err
				}
				return svc.Create(c.Context(), c.Principal, fd, img)
			}),
		JSON(Op{Method: http.MethodGet, Path: p + "/i/{style_preset_id}", Summary: "Get Style Preset", ID: "get_style_preset", Tags: stylePresetTags, Policy: access.LoggedIn},
			func(c *Call, in *stylePresetIDParam) (*stylepresets.StylePresetRecordWithImage, error) {
				return svc.Get(c.Context(), c.Principal, in.StylePresetID)
			}),
		JSON(Op{Method: http.MethodPatch, Path: p + "/i/{style_preset_id}", Summary: "Update Style Preset", ID: "update_style_preset", Tags: stylePresetTags,
			Policy: access.LoggedIn, MaxBody: formBody,
			Description: "Replaces the name and prompts; the image is replaced by the one sent, or removed when none is."},
			func(c *Call, in *struct {
				StylePresetID string                   `path:"style_preset_id" description:"The id of the style preset to update"`
				Form          Body_update_style_preset `body:"multipart"`
			}) (*stylepresets.StylePresetRecordWithImage, error) {
				fd, img, err := readPresetForm(c)
				if err != nil {
					return nil, err
				}
				return svc.Update(c.Context(), c.Principal, in.StylePresetID, fd, img)
			}),
		JSON(Op{Method: http.MethodDelete, Path: p + "/i/{style_preset_id}", Summary: "Delete Style Preset", ID: "delete_style_preset", Tags: stylePresetTags, Policy: access.LoggedIn},
			func(c *Call, in *stylePresetIDParam) (any, error) {
				return nil, svc.Delete(c.Context(), c.Principal, in.StylePresetID)
			}),
		Raw(Op{Method: http.MethodGet, Path: p + "/i/{style_preset_id}/image", Summary: "Get Style Preset Image", ID: "get_style_preset_image",
			Tags: stylePresetTags, Policy: access.Media, Produces: "image/png",
			Description: "Authorised like the preset itself; browsers authenticate with the media cookie set at login."},
			func(c *Call, in *stylePresetIDParam) error {
				f, err := svc.ImageFile(c.Context(), c.Principal, in.StylePresetID)
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
				h.Set("Content-Disposition", `inline; filename="`+in.StylePresetID+`.png"`)
				// The URL stays when the image is replaced, and access is per user: revalidate, never share.
				h.Set("Cache-Control", "private, no-cache")
				http.ServeContent(c.W, c.R, "", st.ModTime(), f)
				return nil
			}),
		Raw(Op{Method: http.MethodGet, Path: p + "/export", Summary: "Export Style Presets", ID: "export_style_presets", Tags: stylePresetTags,
			Policy: access.LoggedIn, Produces: "text/csv",
			Description: "A CSV file (name, prompt, negative_prompt) of the caller's own presets; admins get every user's."},
			func(c *Call, _ *NoInput) error {
				data, err := svc.Export(c.Context(), c.Principal)
				if err != nil {
					return err
				}
				h := c.W.Header()
				h.Set("Content-Type", "text/csv; charset=utf-8")
				h.Set("Content-Disposition", "attachment; filename=prompt_templates.csv")
				_, err = c.W.Write(data)
				return err
			}),
		JSON(Op{Method: http.MethodPost, Path: p + "/import", Summary: "Import Style Presets", ID: "import_style_presets", Tags: stylePresetTags,
			Policy: access.LoggedIn, MaxBody: stylepresets.MaxImportBytes + 64<<10,
			Description: "Creates private presets owned by the caller from a CSV (name, prompt or positive_prompt, negative_prompt) or a " +
				"JSON list of objects with those keys; all or none."},
			func(c *Call, _ *struct {
				Form Body_import_style_presets `body:"multipart"`
			}) (any, error) {
				form, err := readMultipart(c.R, nil, "file")
				if err != nil {
					return nil, err
				}
				if form.file == nil {
					return nil, apperr.Invalid(apperr.ValidationItem{Type: "missing", Loc: []any{"body", "file"}, Msg: "Field required", Input: nil})
				}
				return nil, svc.Import(c.Context(), c.Principal, form.file.contentType, form.file.filename, form.file.data)
			}),
	}
}

// multipartForm is a read multipart/form-data body: text fields and at most one file.
type multipartForm struct {
	values map[string]string
	file   *formFile
}

type formFile struct {
	contentType, filename string
	data                  []byte
}

// readMultipart reads a multipart form: the text fields named in texts (each bounded by its size) and the file
// field fileField; other parts are skipped. The whole body is bounded by the route's limit. A body that is not
// multipart reads as an empty form, so the caller reports the missing fields as FastAPI does.
func readMultipart(r *http.Request, texts map[string]int64, fileField string) (*multipartForm, error) {
	form := &multipartForm{values: map[string]string{}}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return form, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return form, nil
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return form, nil
		}
		if err != nil {
			return nil, asBodyError(err)
		}
		name := part.FormName()
		isFile := part.FileName() != "" || (part.Header.Get("Content-Type") != "" && !strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain"))
		switch {
		case name == fileField && fileField != "" && isFile && form.file == nil:
			data, err := io.ReadAll(part)
			if err != nil {
				part.Close()
				return nil, asBodyError(err)
			}
			form.file = &formFile{contentType: part.Header.Get("Content-Type"), filename: part.FileName(), data: data}
		case texts[name] > 0:
			data, err := io.ReadAll(io.LimitReader(part, texts[name]+1))
			if err != nil {
				part.Close()
				return nil, asBodyError(err)
			}
			if int64(len(data)) > texts[name] {
				part.Close()
				return nil, apperr.BadRequest("The form field " + name + " is too large")
			}
			form.values[name] = string(data)
		}
		part.Close()
	}
}
