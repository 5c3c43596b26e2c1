package nodes

// Sizer is implemented by node inputs whose largest allocation follows from their own fields (an image or
// latents of a given width and height). Before a graph is queued, the queue asks every such node whose
// SizeFields are all given in the graph rather than connected, and refuses the graph with 422 when that
// allocation could not fit a run's memory budget; while running, the node checks again through the budget its
// context carries (tensor.BudgetOf). See docs/security.md "Resource limits and hostile input".
type Sizer interface {
	// SizeFields names the fields the allocation depends on.
	SizeFields() []string
	// Allocation is what the node will allocate at least: elements of elemSize bytes in shape.
	Allocation() (what string, elemSize int, shape []int)
}
