// Package tiles holds InvokeAI's tile nodes, which its tiled upscaling workflows use: grids that cover an
// image (calculate_image_tiles, calculate_image_tiles_even_split, calculate_image_tiles_min_overlap), a
// tile's properties, a tile paired with its image, and the merge of tile images back into one image with
// linear or seam blending (merge_tiles_to_image). The grid and merge math is engine/tiles'.
package tiles

import (
	"image"

	"github.com/invokego/invokego/internal/engine/imaging"
	"github.com/invokego/invokego/internal/engine/tensor"
	et "github.com/invokego/invokego/internal/engine/tiles"
	"github.com/invokego/invokego/internal/nodes"
)

// Register adds the tile node types to r.
func Register(r *nodes.Registry) {
	r.Register(&CalculateImageTiles{}, &CalculateImageTilesEvenSplit{}, &CalculateImageTilesMinOverlap{},
		&TileToProperties{}, &PairTileImage{}, &MergeTilesToImage{})
}

// TBLR is a rectangle or a set of overlaps: top, bottom, left, right.
type TBLR struct {
	Top    int `json:"top" required:"true"`
	Bottom int `json:"bottom" required:"true"`
	Left   int `json:"left" required:"true"`
	Right  int `json:"right" required:"true"`
}

// Tile is a tile of an image: its coordinates and how far it overlaps its neighbours.
type Tile struct {
	Coords  TBLR `json:"coords" required:"true" description:"The coordinates of this tile relative to its parent image."`
	Overlap TBLR `json:"overlap" required:"true" description:"The amount of overlap with adjacent tiles on each side of this tile."`
}

// TileWithImage is a tile and the image made for it.
type TileWithImage struct {
	Tile  Tile             `json:"tile" required:"true"`
	Image nodes.ImageField `json:"image" required:"true"`
}

func fromEngine(ts []et.Tile) []Tile {
	out := make([]Tile, len(ts))
	for i, t := range ts {
		out[i] = Tile{Coords: TBLR{t.Top, t.Bottom, t.Left, t.Right},
			Overlap: TBLR{t.OverlapTop, t.OverlapBottom, t.OverlapLeft, t.OverlapRight}}
	}
	return out
}

func (t Tile) engine() et.Tile {
	return et.Tile{Top: t.Coords.Top, Bottom: t.Coords.Bottom, Left: t.Coords.Left, Right: t.Coords.Right,
		OverlapTop: t.Overlap.Top, OverlapBottom: t.Overlap.Bottom, OverlapLeft: t.Overlap.Left, OverlapRight: t.Overlap.Right}
}

// CalculateImageTilesOutput is calculate_image_tiles_output.
type CalculateImageTilesOutput struct {
	Tiles []Tile `json:"tiles" description:"The tiles coordinates that cover a particular image shape."`
}

// OutputType implements nodes.Output.
func (CalculateImageTilesOutput) OutputType() string { return "calculate_image_tiles_output" }

const tilesDescription = "Calculate the coordinates and overlaps of tiles that cover a target image shape."

func valueError(err error) error { return nodes.Errorf("ValueError", "%v", err) }

// CalculateImageTiles is calculate_image_tiles: fixed-size tiles stepping by the tile less the overlap,
// the last ones moved back to the image's edge (et.WithOverlap).
type CalculateImageTiles struct {
	ImageWidth  int `json:"image_width" default:"1024" ge:"1" le:"16384" description:"The image width, in pixels, to calculate tiles for."`
	ImageHeight int `json:"image_height" default:"1024" ge:"1" le:"16384" description:"The image height, in pixels, to calculate tiles for."`
	TileWidth   int `json:"tile_width" default:"576" ge:"1" le:"16384" description:"The tile width, in pixels."`
	TileHeight  int `json:"tile_height" default:"576" ge:"1" le:"16384" description:"The tile height, in pixels."`
	Overlap     int `json:"overlap" default:"128" ge:"0" description:"The target overlap, in pixels, between adjacent tiles. Adjacent tiles will overlap by at least this amount"`
}

// NodeInfo implements nodes.Node.
func (*CalculateImageTiles) NodeInfo() nodes.Info {
	return nodes.Info{Type: "calculate_image_tiles", Class: "CalculateImageTilesInvocation", Title: "Calculate Image Tiles",
		Description: tilesDescription, Tags: []string{"tiles"}, Category: "tiles", Version: "1.0.1", Output: CalculateImageTilesOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *CalculateImageTiles) Invoke(nodes.Context) (nodes.Output, error) {
	ts, err := et.WithOverlap(n.ImageHeight, n.ImageWidth, n.TileHeight, n.TileWidth, n.Overlap)
	if err != nil {
		return nil, valueError(err)
	}
	return CalculateImageTilesOutput{Tiles: fromEngine(ts)}, nil
}

// CalculateImageTilesEvenSplit is calculate_image_tiles_even_split: a given number of tiles a side, sized
// evenly in multiples of 8 (et.EvenSplit).
type CalculateImageTilesEvenSplit struct {
	ImageWidth  int `json:"image_width" default:"1024" ge:"1" le:"16384" description:"The image width, in pixels, to calculate tiles for."`
	ImageHeight int `json:"image_height" default:"1024" ge:"1" le:"16384" description:"The image height, in pixels, to calculate tiles for."`
	NumTilesX   int `json:"num_tiles_x" default:"2" ge:"1" le:"2048" description:"Number of tiles to divide image into on the x axis"`
	NumTilesY   int `json:"num_tiles_y" default:"2" ge:"1" le:"2048" description:"Number of tiles to divide image into on the y axis"`
	Overlap     int `json:"overlap" default:"128" ge:"0" multiple_of:"8" description:"The overlap, in pixels, between adjacent tiles."`
}

// NodeInfo implements nodes.Node.
func (*CalculateImageTilesEvenSplit) NodeInfo() nodes.Info {
	return nodes.Info{Type: "calculate_image_tiles_even_split", Class: "CalculateImageTilesEvenSplitInvocation",
		Title: "Calculate Image Tiles Even Split", Description: tilesDescription, Tags: []string{"tiles"}, Category: "tiles",
		Version: "1.1.1", Output: CalculateImageTilesOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *CalculateImageTilesEvenSplit) Invoke(nodes.Context) (nodes.Output, error) {
	ts, err := et.EvenSplit(n.ImageHeight, n.ImageWidth, n.NumTilesX, n.NumTilesY, n.Overlap)
	if err != nil {
		return nil, valueError(err)
	}
	return CalculateImageTilesOutput{Tiles: fromEngine(ts)}, nil
}

// CalculateImageTilesMinOverlap is calculate_image_tiles_min_overlap: the fewest tiles that overlap by at
// least min_overlap, spread evenly (et.MinOverlapExact).
type CalculateImageTilesMinOverlap struct {
	ImageWidth  int `json:"image_width" default:"1024" ge:"1" le:"16384" description:"The image width, in pixels, to calculate tiles for."`
	ImageHeight int `json:"image_height" default:"1024" ge:"1" le:"16384" description:"The image height, in pixels, to calculate tiles for."`
	TileWidth   int `json:"tile_width" default:"576" ge:"1" le:"16384" description:"The tile width, in pixels."`
	TileHeight  int `json:"tile_height" default:"576" ge:"1" le:"16384" description:"The tile height, in pixels."`
	MinOverlap  int `json:"min_overlap" default:"128" ge:"0" description:"Minimum overlap between adjacent tiles, in pixels."`
}

// NodeInfo implements nodes.Node.
func (*CalculateImageTilesMinOverlap) NodeInfo() nodes.Info {
	return nodes.Info{Type: "calculate_image_tiles_min_overlap", Class: "CalculateImageTilesMinimumOverlapInvocation",
		Title: "Calculate Image Tiles Minimum Overlap", Description: tilesDescription, Tags: []string{"tiles"}, Category: "tiles",
		Version: "1.0.1", Output: CalculateImageTilesOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *CalculateImageTilesMinOverlap) Invoke(nodes.Context) (nodes.Output, error) {
	ts, err := et.MinOverlapExact(n.ImageHeight, n.ImageWidth, n.TileHeight, n.TileWidth, n.MinOverlap)
	if err != nil {
		return nil, valueError(err)
	}
	return CalculateImageTilesOutput{Tiles: fromEngine(ts)}, nil
}

// TileToPropertiesOutput is tile_to_properties_output.
type TileToPropertiesOutput struct {
	CoordsLeft    int `json:"coords_left" description:"Left coordinate of the tile relative to its parent image."`
	CoordsRight   int `json:"coords_right" description:"Right coordinate of the tile relative to its parent image."`
	CoordsTop     int `json:"coords_top" description:"Top coordinate of the tile relative to its parent image."`
	CoordsBottom  int `json:"coords_bottom" description:"Bottom coordinate of the tile relative to its parent image."`
	Width         int `json:"width" description:"The width of the tile. Equal to coords_right - coords_left."`
	Height        int `json:"height" description:"The height of the tile. Equal to coords_bottom - coords_top."`
	OverlapTop    int `json:"overlap_top" description:"Overlap between this tile and its top neighbor."`
	OverlapBottom int `json:"overlap_bottom" description:"Overlap between this tile and its bottom neighbor."`
	OverlapLeft   int `json:"overlap_left" description:"Overlap between this tile and its left neighbor."`
	OverlapRight  int `json:"overlap_right" description:"Overlap between this tile and its right neighbor."`
}

// OutputType implements nodes.Output.
func (TileToPropertiesOutput) OutputType() string { return "tile_to_properties_output" }

// TileToProperties is tile_to_properties.
type TileToProperties struct {
	Tile Tile `json:"tile" description:"The tile to split into properties."`
}

// NodeInfo implements nodes.Node.
func (*TileToProperties) NodeInfo() nodes.Info {
	return nodes.Info{Type: "tile_to_properties", Class: "TileToPropertiesInvocation", Title: "Tile to Properties",
		Description: "Split a Tile into its individual properties.", Tags: []string{"tiles"}, Category: "tiles",
		Version: "1.0.1", Output: TileToPropertiesOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *TileToProperties) Invoke(nodes.Context) (nodes.Output, error) {
	c, o := n.Tile.Coords, n.Tile.Overlap
	return TileToPropertiesOutput{CoordsLeft: c.Left, CoordsRight: c.Right, CoordsTop: c.Top, CoordsBottom: c.Bottom,
		Width: c.Right - c.Left, Height: c.Bottom - c.Top,
		OverlapTop: o.Top, OverlapBottom: o.Bottom, OverlapLeft: o.Left, OverlapRight: o.Right}, nil
}

// PairTileImageOutput is pair_tile_image_output.
type PairTileImageOutput struct {
	TileWithImage TileWithImage `json:"tile_with_image" description:"A tile description with its corresponding image."`
}

// OutputType implements nodes.Output.
func (PairTileImageOutput) OutputType() string { return "pair_tile_image_output" }

// PairTileImage is pair_tile_image: it keeps a tile and its image together through a collect, which does
// not keep order.
type PairTileImage struct {
	Image nodes.ImageField `json:"image" description:"The tile image."`
	Tile  Tile             `json:"tile" description:"The tile properties."`
}

// NodeInfo implements nodes.Node.
func (*PairTileImage) NodeInfo() nodes.Info {
	return nodes.Info{Type: "pair_tile_image", Class: "PairTileImageInvocation", Title: "Pair Tile with Image",
		Description: "Pair an image with its tile properties.", Tags: []string{"tiles"}, Category: "tiles",
		Version: "1.0.1", Output: PairTileImageOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *PairTileImage) Invoke(nodes.Context) (nodes.Output, error) {
	return PairTileImageOutput{TileWithImage: TileWithImage{Tile: n.Tile, Image: n.Image}}, nil
}

// BlendMode is merge_tiles_to_image's blending.
type BlendMode string

// LiteralValues implements schema.Literal.
func (BlendMode) LiteralValues() []string { return []string{"Linear", "Seam"} }

// maxMergedSide bounds the merged image (the largest tile edge), as images are bounded elsewhere.
const maxMergedSide = 16384

// MergeTilesToImage is merge_tiles_to_image: the image is as large as the tiles' furthest edges, each tile
// image converted to RGB and merged with et.MergeLinear or et.MergeSeam.
type MergeTilesToImage struct {
	nodes.WithMetadata
	nodes.WithBoard
	TilesWithImages []TileWithImage `json:"tiles_with_images" description:"A list of tile images with tile properties."`
	BlendMode       BlendMode       `json:"blend_mode" default:"Seam" input:"direct" description:"blending type Linear or Seam"`
	BlendAmount     int             `json:"blend_amount" default:"32" ge:"0" description:"The amount to blend adjacent tiles in pixels. Must be <= the amount of overlap between adjacent tiles."`
}

// NodeInfo implements nodes.Node.
func (*MergeTilesToImage) NodeInfo() nodes.Info {
	return nodes.Info{Type: "merge_tiles_to_image", Class: "MergeTilesToImageInvocation", Title: "Merge Tiles to Image",
		Description: "Merge multiple tile images into a single image.", Tags: []string{"tiles"}, Category: "tiles",
		Version: "1.1.1", Output: nodes.ImageOutput{}}
}

// Invoke implements nodes.Invocation.
func (n *MergeTilesToImage) Invoke(ctx nodes.Context) (nodes.Output, error) {
	if len(n.TilesWithImages) == 0 {
		return nil, nodes.Errorf("ValueError", "no tiles to merge")
	}
	if len(n.TilesWithImages) > et.MaxTiles {
		return nil, nodes.Errorf("ValueError", "%d tiles (at most %d)", len(n.TilesWithImages), et.MaxTiles)
	}
	var h, w int
	for _, twi := range n.TilesWithImages {
		h, w = max(h, twi.Tile.Coords.Bottom), max(w, twi.Tile.Coords.Right)
	}
	if h < 1 || w < 1 || h > maxMergedSide || w > maxMergedSide {
		return nil, nodes.Errorf("ValueError", "the merged image would be %d×%d (1 to %d a side)", w, h, maxMergedSide)
	}
	// The merged RGB image, its row buffer and the saved RGBA copy: within the run's memory budget.
	if err := tensor.BudgetOf(ctx).Check("the merged image", 8, h, w); err != nil {
		return nil, err
	}
	if n.BlendAmount < 0 || n.BlendAmount > maxMergedSide {
		return nil, nodes.Errorf("ValueError", "blend_amount %d", n.BlendAmount)
	}
	pieces := make([]et.Piece, len(n.TilesWithImages))
	for i, twi := range n.TilesWithImages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, err := ctx.LoadImage(twi.Image.ImageName)
		if err != nil {
			return nil, err
		}
		pix, iw, ih := imaging.RGB8(img)
		pieces[i] = et.Piece{Tile: twi.Tile.engine(), Image: &et.RGB{Pix: pix, W: iw, H: ih}}
	}
	dst := et.NewRGB(w, h)
	merge := et.MergeSeam
	switch n.BlendMode {
	case "Linear":
		merge = et.MergeLinear
	case "Seam", "":
	default:
		return nil, nodes.Errorf("ValueError", "Unsupported blend mode: '%s'.", n.BlendMode)
	}
	if err := merge(dst, pieces, n.BlendAmount); err != nil {
		return nil, valueError(err)
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		copy(out.Pix[i*4:i*4+3], dst.Pix[i*3:i*3+3])
		out.Pix[i*4+3] = 255
	}
	return ctx.SaveImage(out, nodes.SaveImageOptions{Board: n.Board, Metadata: n.Metadata})
}
