package api

// Enums of route parameters, named as InvokeAI's schema names them (each is a component of /openapi.json).

// SQLiteDirection is a sort direction.
type SQLiteDirection string

// EnumValues implements schema.Enum.
func (SQLiteDirection) EnumValues() []string { return []string{"ASC", "DESC"} }

// WorkflowRecordOrderBy is what workflow listings sort by.
type WorkflowRecordOrderBy string

// EnumValues implements schema.Enum.
func (WorkflowRecordOrderBy) EnumValues() []string {
	return []string{"created_at", "updated_at", "opened_at", "name", "is_public"}
}

// WorkflowCategory is a workflow's category.
type WorkflowCategory string

// EnumValues implements schema.Enum.
func (WorkflowCategory) EnumValues() []string { return []string{"user", "default"} }

// ResourceOrigin says whether an image was made here or uploaded.
type ResourceOrigin string

// EnumValues implements schema.Enum.
func (ResourceOrigin) EnumValues() []string { return []string{"internal", "external"} }

// BoardRecordOrderBy is what board listings sort by.
type BoardRecordOrderBy string

// EnumValues implements schema.Enum.
func (BoardRecordOrderBy) EnumValues() []string { return []string{"created_at", "board_name"} }

// strs converts enum values to plain strings for the services.
func strs[T ~string](vals []T) []string {
	if vals == nil {
		return nil
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out
}
