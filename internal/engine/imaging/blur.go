package imaging

// Multiply is Pillow's ImageChops.multiply of two 8-bit values: the product over 255, truncated.
func Multiply(a, b uint8) uint8 { return uint8(uint32(a) * uint32(b) / 255) }
