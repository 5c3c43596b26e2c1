package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/api"
	"github.com/invokego/invokego/internal/clientstate"
	"github.com/invokego/invokego/internal/gallery"
	"github.com/invokego/invokego/internal/nodes"
	"github.com/invokego/invokego/internal/nodes/canvas"
	"github.com/invokego/invokego/internal/nodes/core"
	"github.com/invokego/invokego/internal/nodes/imageops"
	"github.com/invokego/invokego/internal/queue"
	"github.com/invokego/invokego/internal/store"
)

// NodeRegistry returns the server's node registry, creating it with the core nodes on first use. Features
// that bring node types (the engine's diffusion nodes) call their package's Register(a.NodeRegistry()) in
// their wire function; the queue, wired last, validates and runs graphs against the complete registry.
func (a *App) NodeRegistry() *nodes.Registry {
	if a.nodes == nil {
		a.nodes = nodes.NewRegistry()
		core.Register(a.nodes)
		core.RegisterPromptFile(a.nodes, core.PromptFiles{Dir: a.cfg.PromptsPath()})
		canvas.Register(a.nodes)
		imageops.Register(a.nodes)
	}
	return a.nodes
}

// wireQueue builds the queue feature and registers its routes.
func (a *App) wireQueue(ctx context.Context) error {
	reg := a.NodeRegistry()
	var images queue.Images
	if a.gallery != nil {
		images = galleryImages{a.gallery}
	}
	svc := queue.New(queue.Options{
		DB: a.DB, Events: a.Events, Registry: reg, Images: images, Owner: a.queueOwner,
		Multiuser: a.cfg.Multiuser, RoundRobin: a.cfg.SessionQueueMode != "fifo",
		MaxQueueSize: a.cfg.MaxQueueSize, MaxPerUser: a.cfg.MaxQueueItemsPerUser, CacheSize: a.cfg.NodeCacheSize,
		MaxSessionNodes: a.cfg.MaxSessionNodes, MaxSessionBytes: a.cfg.MaxSessionBytes, MaxBatchBytes: a.cfg.MaxBatchBytes,
		MaxItemMemory: a.cfg.ItemMemoryBudget(),
		Logger:        a.logger,
	})
	if err := svc.Recover(ctx); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if a.cfg.ClearQueueOnStartup {
		if _, err := svc.Clear(ctx, access.System(), "default"); err != nil {
			return fmt.Errorf("queue: clear on startup: %w", err)
		}
	}
	a.Queue = svc
	a.Auth.OnDisable(svc.UserDisabled)
	a.Router.Add(api.QueueRoutes(svc)...)
	a.Router.Add(api.RecallRoutes(&queue.Recall{DB: a.DB, Images: images, Events: a.Events, Models: a.modelKeyByName})...)
	a.Router.Add(api.ClientStateRoutes(&clientstate.Service{DB: a.DB})...)
	a.Router.AddSchemas(reg.Schemas)
	stop := svc.Start()
	a.onClose(stop)
	return nil
}

// queueOwner resolves the account that enqueued a queue item to the principal its nodes act as: in single-user
// mode and for legacy system items the synthetic admin, otherwise the user as the database has them now. A
// deleted or deactivated account has no rights at all (queue.ErrAccountUnavailable).
func (a *App) queueOwner(ctx context.Context, userID string) (access.Principal, error) {
	if !a.cfg.Multiuser || userID == access.SystemUserID {
		return access.System(), nil
	}
	u, err := a.DB.UserByID(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return access.Principal{}, queue.ErrAccountUnavailable
	}
	if err != nil {
		return access.Principal{}, err
	}
	if !u.IsActive {
		return access.Principal{}, queue.ErrAccountUnavailable
	}
	email, name := u.Email, ""
	if u.DisplayName != nil {
		name = *u.DisplayName
	}
	return access.Principal{UserID: u.UserID, Email: email, DisplayName: name, IsAdmin: u.IsAdmin, Authenticated: true}, nil
}

// modelKeyByName resolves a recalled model name to the key of an installed model with that name.
func (a *App) modelKeyByName(ctx context.Context, name string) (string, bool) {
	if a.Models == nil || a.Models.Records == nil || name == "" {
		return "", false
	}
	found, err := a.Models.Records.List(ctx, store.ModelFilter{Name: name})
	if err != nil || len(found) == 0 {
		return "", false
	}
	return found[0].Key, true
}

// galleryImages adapts the gallery to what the queue's nodes and recall need.
type galleryImages struct{ g *gallery.Service }

func (gi galleryImages) SaveGenerated(ctx context.Context, owner access.Principal, img image.Image, req queue.SaveRequest) (string, error) {
	dto, err := gi.g.SaveGenerated(ctx, owner, img, gallery.SaveOptions{
		Category: req.Category, IsIntermediate: req.IsIntermediate, SessionID: req.SessionID, NodeID: req.NodeID,
		BoardID: req.BoardID, Metadata: req.Metadata, Workflow: req.Workflow, Graph: req.Graph,
	})
	if err != nil {
		return "", err
	}
	return dto.ImageName, nil
}

func (gi galleryImages) Open(ctx context.Context, p access.Principal, name string) (image.Image, error) {
	return gi.g.Open(ctx, p, name)
}

// Metadata returns the metadata of an image p may read (metadata_from_image, metadata_field_extractor).
func (gi galleryImages) Metadata(ctx context.Context, p access.Principal, name string) (json.RawMessage, error) {
	return gi.g.GetMetadata(ctx, p, name)
}

// BoardImageNames lists the non-intermediate images of a board in the given categories that p may read
// (image_generator, resolved at enqueue).
func (gi galleryImages) BoardImageNames(ctx context.Context, p access.Principal, boardID string, categories []string) ([]string, error) {
	intermediate := false
	res, err := gi.g.ImageNames(ctx, p, gallery.ListQuery{BoardID: &boardID, Categories: categories, IsIntermediate: &intermediate})
	if err != nil {
		return nil, err
	}
	return res.ImageNames, nil
}

func (gi galleryImages) Size(ctx context.Context, p access.Principal, name string) (int, int, error) {
	dto, err := gi.g.GetImage(ctx, p, name)
	if err != nil {
		return 0, 0, err
	}
	return dto.Width, dto.Height, nil
}
