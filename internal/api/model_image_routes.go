package api

import (
	"net/http"

	"github.com/invokego/invokego/internal/access"
)

// modelImageRoutes serve and change a model's cover image.
func modelImageRoutes(d ModelDeps) []Route {
	svc := d.Models
	return []Route{
		Raw(Op{Method: http.MethodGet, Path: modelsPath + "/i/{key}/image", Summary: "Get Model Image", Tags: modelTags, Policy: access.Media, Produces: "image/png"},
			func(c *Call, in *modelKey) error {
				b, err := svc.CoverImage(c.Context(), in.Key)
				if err != nil {
					return err
				}
				c.W.Header().Set("Content-Type", "image/png")
				c.W.Header().Set("Cache-Control", "private, max-age=0")
				_, err = c.W.Write(b)
				return err
			}),
		JSON(Op{Method: http.MethodPatch, Path: modelsPath + "/i/{key}/image", Summary: "Update Model Image", Tags: modelTags, Policy: access.Admin, MaxBody: 32 << 20},
			func(c *Call, in *struct {
				Key  string   `path:"key"`
				Form struct{} `body:"multipart"`
			}) (any, error) {
				_, data, err := readUploadedImage(c.R, "image")
				if err != nil {
					return nil, err
				}
				// InvokeAI answers 200 with no value (null); the config's cover_image now names the image.
				_, err = svc.SetCoverImage(c.Context(), in.Key, data)
				return nil, err
			}),
		Raw(modelOp(http.MethodDelete, "/i/{key}/image", "Delete Model Image", access.Admin),
			func(c *Call, in *modelKey) error {
				if err := svc.DeleteCoverImage(c.Context(), in.Key); err != nil {
					return err
				}
				return noContent(c)
			}),
	}
}
