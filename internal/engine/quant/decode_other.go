//go:build !amd64

package quant

// archDecoders returns no assembly decoders: other architectures use the portable ones.
func archDecoders() map[Type]decodeFunc { return nil }
