package gallery

// ImageCategory is InvokeAI's ImageCategory enum.
type ImageCategory string

// EnumValues implements schema.Enum.
func (ImageCategory) EnumValues() []string {
	return []string{"general", "mask", "control", "user", "other"}
}

// BoardVisibility is InvokeAI's BoardVisibility enum.
type BoardVisibility string

// EnumValues implements schema.Enum.
func (BoardVisibility) EnumValues() []string { return []string{"private", "shared", "public"} }
